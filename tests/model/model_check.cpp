// The model-based safety checker (issue 12, PRODUCT.md §5/§6): generates whole situations (a
// manifest, a remote account, a state file, faults and kills over several runs), runs the real
// observe -> diff -> apply code against a reference model of the remote (support::ReferenceRemote)
// and asserts the safety invariants after every run. A failing case is shrunk to a minimal one
// and printed as JSON, to be kept under tests/model/cases/ as a regression.
//
//   model_check --seeds 5000 [--first 1]     the fixed seed set (CI)
//   model_check --minutes 10 [--first N]     random seeds until the time is up
//   model_check --replay DIR|FILE            replay kept cases (each must pass)
//   model_check --seed N --print             print a generated case
//   --verbose                                log every run's plan and every action

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/client.hpp"
#include "model/instance_fields.hpp"
#include "reconcile/apply.hpp"
#include "reconcile/compare.hpp"
#include "reconcile/diff.hpp"
#include "reconcile/observe.hpp"
#include "state/writer.hpp"
#include "support/fake_transport.hpp"
#include "support/memory_store.hpp"
#include "support/reference_remote.hpp"
#include "util/clock.hpp"
#include "util/strings.hpp"

namespace {

using nlohmann::json;
using support::ReferenceRemote;

// ---- situations --------------------------------------------------------------------------

const std::vector<std::string> k_namespaces = {"default", "a", "b", "c"};
const std::string k_headers = "source_params.web_crawler.parse_options.include_headers";
std::vector<std::pair<std::string, std::string>> declared_list_json(const json& m) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, ns] : m.items())
    for (const auto& [id, inst] : ns["instances"].items()) out.emplace_back(name, id);
  return out;
}

struct Gen {
  std::mt19937_64 rng;
  explicit Gen(std::uint64_t seed) : rng(seed) {}
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; }
  int between(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<std::size_t>(between(0, static_cast<int>(v.size()) - 1))];
  }
};

json gen_fields(Gen& g) {
  json f = json::object();
  f["type"] = g.chance(0.7) ? "r2" : "web-crawler";
  f["source"] = g.pick(std::vector<std::string>{"s1", "s2"});
  if (g.chance(0.5)) f["max_num_results"] = g.pick(std::vector<int>{5, 10, 20});
  if (g.chance(0.3)) f["paused"] = g.chance(0.5);
  if (g.chance(0.2)) f["token_id"] = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";
  if (g.chance(0.2)) {
    json boost = {{{"field", "year"}}};
    if (g.chance(0.5))  // two items: drift in one, a manifest change in the other
      boost = {{{"field", "year"}, {"direction", "asc"}},
               {{"field", "title"}, {"direction", "desc"}}};
    f["retrieval_options"] = {{"boost_by", boost}};
  }
  if (g.chance(0.2)) f["public_endpoint_params"] = {{"enabled", g.chance(0.5)}};
  if (g.chance(0.25))
    f["indexing_options"] = {
        {"keyword_tokenizer", g.pick(std::vector<std::string>{"porter", "trigram"})},
        {"use_ocr", g.chance(0.5)}};
  if (g.chance(0.25)) {
    json sp = json::object();
    if (g.chance(0.6)) sp["prefix"] = g.chance(0.5) ? "docs/" : "wiki/";
    if (g.chance(0.6)) {
      json headers = {{"x-a", "1"}};
      if (g.chance(0.5)) headers["x-b"] = "2";
      sp["web_crawler"] = {{"parse_options", {{"include_headers", headers}}}};
    }
    if (!sp.empty()) f["source_params"] = sp;
  }
  return f;
}

// A remote object for `fields`, perhaps drifted (changed outside aisearchd).
json gen_remote_object(Gen& g, const std::string& id, json fields) {
  json o = std::move(fields);
  o["id"] = id;
  if (g.chance(0.25)) o["max_num_results"] = g.pick(std::vector<int>{5, 10, 20, 30});
  if (g.chance(0.1)) o["source"] = "s3";
  if (g.chance(0.05)) o["type"] = "web-crawler";
  if (o.contains("source_params") && o["source_params"].contains("web_crawler") && g.chance(0.3))
    o["source_params"]["web_crawler"]["parse_options"]["include_headers"]["x-c"] = "3";
  if (o.contains("source_params") && o["source_params"].contains("prefix") && g.chance(0.3))
    o["source_params"]["prefix"] = "other/";
  return o;
}

json generate(std::uint64_t seed) {
  Gen g(seed);
  json c = {{"seed", seed}};
  // Most situations are small (easy to read when one fails); one in four is large: up to 30
  // instances, more pages, later faults.
  const bool large = g.chance(0.25);
  const int id_pool = large ? 30 : 10;
  const int per_ns = large ? 10 : 4;
  const int last_request = large ? 80 : 24;
  // The manifest: 1-3 namespaces, ids unique across them.
  std::vector<std::string> ids;
  for (int i = 0; i < id_pool; ++i) ids.push_back("x" + std::to_string(i));
  std::shuffle(ids.begin(), ids.end(), g.rng);
  std::size_t next_id = 0;
  json manifest = json::object();
  std::vector<std::string> names = k_namespaces;
  std::shuffle(names.begin(), names.end(), g.rng);
  const int ns_count = g.between(1, 3);
  for (int n = 0; n < ns_count; ++n) {
    json ns = {{"prune", g.chance(0.6)},
               {"max_deletes", g.between(0, 3)},
               {"suspend", g.chance(0.04)},
               {"instances", json::object()}};
    const int count = g.between(0, per_ns);
    for (int i = 0; i < count && next_id < ids.size(); ++i) {
      json inst = {{"fields", gen_fields(g)},
                   {"protect", g.chance(0.15)},
                   {"allow_replace", g.chance(0.35)},
                   {"suspend", g.chance(0.04)},
                   {"ignore", json::array()}};
      if (g.chance(0.15))
        inst["ignore"].push_back(g.pick(
            std::vector<std::string>{"max_num_results", "source_params.prefix", k_headers + ".x-b",
                                     k_headers + ".x-c", "public_endpoint_params.enabled"}));
      if (g.chance(0.03)) inst["ignore"].push_back(g.chance(0.5) ? "source" : "type");
      ns["instances"][ids[next_id++]] = inst;
    }
    manifest[names[static_cast<std::size_t>(n)]] = ns;
  }
  // Sometimes the same id declared in two namespaces.
  if (g.chance(0.1)) {
    auto list = declared_list_json(manifest);
    if (!list.empty()) {
      auto [ns, id] = g.pick(list);
      std::string other = g.pick(k_namespaces);
      if (other != ns) {
        if (!manifest.contains(other))
          manifest[other] = {
              {"prune", g.chance(0.6)}, {"max_deletes", 1}, {"instances", json::object()}};
        json inst = manifest[ns]["instances"][id];
        if (g.chance(0.5)) inst["fields"]["source"] = "s2";
        manifest[other]["instances"][id] = inst;
      }
    }
  }
  c["manifest"] = manifest;

  // The remote: declared instances where declared, elsewhere (a move), or absent; others.
  json remote = {{"namespaces", json::array({"default"})}, {"instances", json::object()}};
  std::set<std::string> remote_ns = {"default"};
  for (const auto& n : k_namespaces)
    if (n != "default" && g.chance(manifest.contains(n) ? 0.8 : 0.4)) remote_ns.insert(n);
  auto put = [&](const std::string& ns, const std::string& id, json object) {
    remote_ns.insert(ns);
    remote["instances"][ns][id] = std::move(object);
  };
  json state = {{"owned", json::array()}, {"sync", json::array()}};
  auto own = [&](const std::string& ns, const std::string& id, bool digests) {
    state["owned"].push_back(
        {{"ns", ns}, {"id", id}, {"protect", g.chance(0.15)}, {"digests", digests}});
    if (g.chance(0.3)) state["sync"].push_back(ns + "/" + id);
  };
  for (const auto& [ns, nspec] : manifest.items()) {
    for (const auto& [id, ispec] : nspec["instances"].items()) {
      const double roll = g.between(0, 99) / 100.0;
      if (roll < 0.55) {
        put(ns, id, gen_remote_object(g, id, ispec["fields"]));
        if (g.chance(0.65)) own(ns, id, g.chance(0.5));
      } else if (roll < 0.75) {
        std::string other = g.pick(k_namespaces);
        if (other == ns) continue;
        put(other, id, gen_remote_object(g, id, ispec["fields"]));
        if (g.chance(0.75)) own(other, id, g.chance(0.5));
      } else if (g.chance(0.3)) {
        own(ns, id, g.chance(0.5));  // owned, deleted outside aisearchd
      }
    }
  }
  const int others = g.between(0, large ? 8 : 3);
  for (int i = 0; i < others && next_id < ids.size(); ++i) {
    const std::string id = ids[next_id++];
    const std::string ns = g.pick(k_namespaces);
    put(ns, id, gen_remote_object(g, id, gen_fields(g)));
    if (g.chance(0.5)) own(ns, id, false);
  }
  if (g.chance(0.2) && next_id < ids.size()) own(g.pick(k_namespaces), ids[next_id++], false);
  remote["namespaces"] = json(remote_ns);
  c["remote"] = remote;
  c["state"] = state;

  // Runs: faults on random requests, kills, report mode, edits between runs.
  json runs = json::array();
  const int run_count = g.between(1, 3);
  for (int r = 0; r < run_count; ++r) {
    json run = {{"faults", json::array()}, {"report", g.chance(0.15)}, {"edits", json::array()}};
    if (g.chance(0.6)) {
      const int faults = g.between(1, 3);
      for (int f = 0; f < faults; ++f)
        run["faults"].push_back(
            {{"at", g.between(0, last_request)},
             {"kind", g.pick(std::vector<std::string>{"fail", "lost", "short", "short", "fail",
                                                      "shifted"})}});
    }
    if (g.chance(0.25))
      run["faults"].push_back({{"at", g.between(0, last_request + 6)}, {"kind", "kill"}});
    // A write whose answer is lost and whose retry fails (or the process dies there): the write
    // happened, the client cannot know.
    if (g.chance(0.2)) {
      const int at = g.between(0, last_request);
      run["faults"].push_back({{"at", at}, {"kind", "lost"}});
      run["faults"].push_back({{"at", at + 1}, {"kind", g.chance(0.5) ? "fail" : "kill"}});
    }
    if (r > 0 && g.chance(0.4)) {
      // Manifest edits: move an id to another namespace, or change its source.
      run["edits"].push_back({{"kind", g.chance(0.6) ? "move" : "source"},
                              {"pick", g.between(0, 100)},
                              {"to", g.pick(k_namespaces)}});
    }
    if (r > 0 && g.chance(0.3))
      run["drift"] = {
          {"pick", g.between(0, 100)}, {"delete", g.chance(0.3)}, {"nested", g.chance(0.5)}};
    // A change inside an object field of the manifest (with drift above: both in one object).
    if (r > 0 && g.chance(0.3))
      run["edits"].push_back({{"kind", "set"}, {"pick", g.between(0, 100)}, {"to", "-"}});
    // An item of an array of objects changed: in the manifest (item 0), outside (item 1).
    if (r > 0 && g.chance(0.25))
      run["edits"].push_back({{"kind", "set_item"}, {"pick", g.between(0, 100)}, {"to", "-"}});
    if (r > 0 && g.chance(0.1))
      run["edits"].push_back({{"kind", "add_item"}, {"pick", g.between(0, 100)}, {"to", "-"}});
    if (r > 0 && !run.contains("drift") && g.chance(0.25)) {
      run["drift"] = {{"pick", g.between(0, 100)}, {"item", true}};
      if (g.chance(0.5)) run["report"] = true;  // the drift meets report mode more often
    }
    // Between runs: someone makes an instance by hand under a known id; protect toggled,
    // forget or adopt run by the operator.
    if (r > 0 && g.chance(0.25))
      run["outside_create"] = {
          {"pick", g.between(0, 100)}, {"ns", g.pick(k_namespaces)}, {"same", g.chance(0.3)}};
    if (r > 0 && g.chance(0.2))
      run["edits"].push_back(
          {{"kind", g.pick(std::vector<std::string>{"protect", "forget", "adopt"})},
           {"pick", g.between(0, 100)},
           {"to", g.pick(k_namespaces)}});
    runs.push_back(run);
  }
  c["runs"] = runs;
  c["final_report"] = g.chance(0.3);
  return c;
}

// ---- building the real inputs --------------------------------------------------------------

manifest::Manifest to_manifest(const json& m) {
  manifest::Manifest out;
  for (const auto& [name, ns] : m.items()) {
    auto& spec = out.namespaces[name];
    spec.name = name;
    spec.prune = ns.value("prune", false);
    spec.max_deletes = ns.value("max_deletes", 1);
    spec.suspend = ns.value("suspend", false);
    for (const auto& [id, inst] : ns["instances"].items()) {
      auto& i = spec.instances[id];
      i.ns = name;
      i.id = id;
      i.fields = inst.value("fields", json::object());
      i.protect = inst.value("protect", false);
      i.allow_replace = inst.value("allow_replace", false);
      i.suspend = inst.value("suspend", false);
      for (const auto& p : inst.value("ignore", json::array())) i.ignore_changes.push_back(p);
    }
  }
  return out;
}

state::State to_state(const json& s, const manifest::Manifest& m) {
  state::State out;
  for (const auto& o : s["owned"]) {
    state::OwnedInstance rec;
    rec.ns = o["ns"];
    rec.id = o["id"];
    rec.protect = o.value("protect", false);
    rec.adopted_at = "2026-01-01T00:00:00Z";
    if (o.value("digests", false)) {
      for (const auto& [name, ns] : m.namespaces)
        if (auto it = ns.instances.find(rec.id); it != ns.instances.end())
          rec.applied_digests = reconcile::field_digests(it->second);
    }
    out.owned[rec.address()] = rec;
  }
  for (const auto& a : s["sync"])
    out.sync[a.get<std::string>()].last_job_id = "job-" + a.get<std::string>();
  return out;
}

// Every declared instance, in a stable order, for edits that pick one.
std::vector<std::pair<std::string, std::string>> declared_list(const json& m) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, ns] : m.items())
    for (const auto& [id, inst] : ns["instances"].items()) out.emplace_back(name, id);
  return out;
}

// ---- running and checking -------------------------------------------------------------------

struct Coverage {
  long cases = 0, runs = 0, kills = 0, short_lists = 0, lost_writes = 0, failed_requests = 0,
       moves = 0, moves_under_partial_lists = 0, adoptions = 0, adopt_conflicts = 0, replaces = 0,
       report_runs = 0, blocked_drift = 0, deletes = 0, forgets = 0, converged_checks = 0,
       large_cases = 0, most_instances = 0, array_item_edits = 0, array_item_drift = 0,
       shifted_lists = 0, remade_over_deleting = 0;
  void print(std::ostream& out) const {
    out << "coverage: cases=" << cases << " runs=" << runs << " kills=" << kills
        << " short_lists=" << short_lists << " shifted_lists=" << shifted_lists
        << " lost_writes=" << lost_writes << " failed_requests=" << failed_requests
        << " moves=" << moves << " moves_under_partial_lists=" << moves_under_partial_lists
        << " adoptions=" << adoptions << " adopt_conflicts=" << adopt_conflicts
        << " replaces=" << replaces << " report_runs=" << report_runs
        << " blocked_drift=" << blocked_drift << " deletes=" << deletes << " forgets=" << forgets
        << " convergence_checks=" << converged_checks << " large_cases=" << large_cases
        << " most_instances=" << most_instances << " array_item_edits=" << array_item_edits
        << " array_item_drift=" << array_item_drift
        << " remade_over_deleting=" << remade_over_deleting << "\n";
  }
};

class Checker {
 public:
  Checker(const json& c, Coverage* coverage) : m_case(c), m_cov(coverage) {}

  // The violations found (empty: every invariant held).
  std::vector<std::string> run() {
    json manifest_json = m_case["manifest"];
    manifest::Manifest m = to_manifest(manifest_json);
    for (const auto& ns : m_case["remote"]["namespaces"]) m_remote->add_namespace(ns);
    std::set<std::string> all_ids;
    for (const auto& [ns, items] : m_case["remote"]["instances"].items())
      for (const auto& [id, object] : items.items()) {
        m_remote->add_instance(ns, object);
        all_ids.insert(id);
      }
    for (const auto& [ns, spec] : manifest_json.items())
      for (const auto& [id, inst] : spec["instances"].items()) all_ids.insert(id);
    if (m_cov) {
      const long n = static_cast<long>(all_ids.size());
      m_cov->most_instances = std::max(m_cov->most_instances, n);
      if (n > 10) ++m_cov->large_cases;
    }
    m_store = std::make_unique<support::MemoryStore>(to_state(m_case["state"], m));
    m_remote->on_kill([this] { m_store->freeze(); });
    state::State start = m_store->saved();
    for (const auto& [a, o] : start.owned) m_start_owned.insert(a);
    for (const auto& [address, owned] : start.owned)
      if (m_remote->has(owned.ns, owned.id)) m_tracked.insert(address);
    count(m_cov, &Coverage::cases);

    const json& runs = m_case["runs"];
    for (std::size_t r = 0; r < runs.size() && m_violations.empty(); ++r) {
      const json& run = runs[r];
      apply_edits(run, manifest_json);
      m = to_manifest(manifest_json);
      one_run(m, run, static_cast<int>(r));
    }
    // Then clean runs: the first recovers from whatever the faults left; after it the next plan
    // must be empty (convergence).
    // (The first may run in report mode: what the faults left half done is finished by it too.)
    if (m_violations.empty())
      one_run(m, json{{"faults", json::array()}, {"report", m_case.value("final_report", false)}},
              100);
    if (m_violations.empty()) one_run(m, json{{"faults", json::array()}}, 101);
    return m_violations;
  }

 private:
  static void count(Coverage* c, long Coverage::*field, long n = 1) {
    if (c) c->*field += n;
  }

  void violation(int run, const std::string& what) {
    m_violations.push_back("run " + std::to_string(run) + ": " + what);
  }

  void apply_edits(const json& run, json& manifest_json) {
    for (const auto& e : run.value("edits", json::array())) {
      auto list = declared_list(manifest_json);
      if (list.empty()) continue;
      auto [ns, id] = list[static_cast<std::size_t>(e["pick"].get<int>()) % list.size()];
      if (e["kind"] == "protect") {
        auto& inst = manifest_json[ns]["instances"][id];
        inst["protect"] = !inst.value("protect", false);
        continue;
      }
      if (e["kind"] == "forget" || e["kind"] == "adopt") {
        state::State st = m_store->saved();
        if (e["kind"] == "forget") {
          // forget whichever record holds this id
          for (auto it = st.owned.begin(); it != st.owned.end(); ++it)
            if (it->second.id == id) {
              m_tracked.erase(it->first);
              st.sync.erase(it->first);
              st.owned.erase(it);
              break;
            }
        } else {
          // `aisearchd adopt` of whatever remote instance carries this id: a new record, or a
          // record never confirmed made confirmed (no longer someone else's either way).
          for (const auto& [rns, items] : m_remote->instances()) {
            const auto* rec = st.find(rns, id);
            if (items.count(id) && (!rec || rec->pending_create)) {
              auto& o = st.owned[rns + "/" + id];
              o.ns = rns;
              o.id = id;
              o.pending_create = false;
              if (o.adopted_at.empty()) o.adopted_at = "2026-01-01T00:00:00Z";
              m_foreign.erase(rns + "/" + id);
              m_tracked.insert(rns + "/" + id);
              break;
            }
          }
        }
        (void)m_store->save(st);
        continue;
      }
      if (e["kind"] == "move") {
        std::string to = e["to"];
        if (to == ns) continue;
        json inst = manifest_json[ns]["instances"][id];
        manifest_json[ns]["instances"].erase(id);
        if (!manifest_json.contains(to))
          manifest_json[to] = {{"prune", true}, {"max_deletes", 1}, {"instances", json::object()}};
        manifest_json[to]["instances"][id] = inst;
      } else if (e["kind"] == "set") {
        // One value inside an object field: indexing_options.use_ocr, else source_params.prefix,
        // else (no object) max_num_results.
        auto& f = manifest_json[ns]["instances"][id]["fields"];
        if (f.contains("indexing_options"))
          f["indexing_options"]["use_ocr"] = !f["indexing_options"].value("use_ocr", false);
        else if (f.contains("source_params") && f["source_params"].contains("prefix"))
          f["source_params"]["prefix"] =
              f["source_params"]["prefix"] == "docs/" ? "wiki/" : "docs/";
        else
          f["max_num_results"] = f.value("max_num_results", 10) == 10 ? 20 : 10;
      } else if (e["kind"] == "add_item") {
        // The array gets longer: its items still pair up by position with the remote's.
        auto& f = manifest_json[ns]["instances"][id]["fields"];
        if (f.contains("retrieval_options") && f["retrieval_options"].contains("boost_by")) {
          f["retrieval_options"]["boost_by"].push_back({{"field", "author"}});
          count(m_cov, &Coverage::array_item_edits);
        }
      } else if (e["kind"] == "set_item") {
        auto& f = manifest_json[ns]["instances"][id]["fields"];
        if (f.contains("retrieval_options") && f["retrieval_options"].contains("boost_by") &&
            f["retrieval_options"]["boost_by"].size() >= 2) {
          auto& item = f["retrieval_options"]["boost_by"][0];
          item["direction"] = item.value("direction", "asc") == "asc" ? "desc" : "asc";
          count(m_cov, &Coverage::array_item_edits);
        }
      } else if (e["kind"] == "source") {
        auto& f = manifest_json[ns]["instances"][id]["fields"];
        f["source"] = f.value("source", "s1") == "s1" ? "s2" : "s1";
      }
    }
    if (run.contains("outside_create")) {
      // Someone creates an instance by hand at an address whose id the manifest or state knows.
      std::vector<std::string> ids;
      for (const auto& [a, b] : declared_list(manifest_json)) ids.push_back(b);
      for (const auto& [a, o] : m_store->saved().owned) ids.push_back(o.id);
      if (!ids.empty()) {
        const std::string id =
            ids[static_cast<std::size_t>(run["outside_create"]["pick"].get<int>()) % ids.size()];
        const std::string ns = run["outside_create"]["ns"];
        // Not where aisearchd holds a confirmed record: an instance deleted outside and made
        // again by hand under the same address cannot be told from its own. A record marked
        // `deleting` (aisearchd's DELETE, its answer maybe lost) is fair game: the instance made
        // there is someone else's, told apart by its identity (also with the manifest's type
        // and source: then it is adopted afresh).
        const state::State saved = m_store->saved();
        const auto* rec = saved.find(ns, id);
        const bool deleting = rec && rec->deleting;
        if (!m_remote->has(ns, id) &&
            (deleting || (!m_start_owned.count(ns + "/" + id) && !(rec && !rec->pending_create)))) {
          json o = {{"id", id}, {"type", "r2"}, {"source", "hand"}};
          if (run["outside_create"].value("same", false)) {
            for (const auto& [dn, spec] : manifest_json.items())
              if (dn == ns && spec["instances"].contains(id)) {
                o["source"] = spec["instances"][id]["fields"].value("source", "s1");
                o["type"] = spec["instances"][id]["fields"].value("type", "r2");
              }
          }
          m_remote->add_namespace(ns);
          m_remote->add_instance(ns, o);
          if (o["source"] == "hand") m_foreign.insert(ns + "/" + id);
          if (deleting) count(m_cov, &Coverage::remade_over_deleting);
        }
      }
    }
    if (run.contains("drift")) {
      auto all = m_remote->instances();
      std::vector<std::pair<std::string, std::string>> list;
      for (const auto& [ns, items] : all)
        for (const auto& [id, o] : items) list.emplace_back(ns, id);
      if (!list.empty()) {
        auto [ns, id] =
            list[static_cast<std::size_t>(run["drift"]["pick"].get<int>()) % list.size()];
        if (run["drift"].value("delete", false)) {
          m_remote->remove_instance(ns, id);
          m_tracked.erase(ns + "/" + id);
          m_foreign.erase(ns + "/" + id);  // gone: a later instance there is not the hand-made one
        } else if (run["drift"].value("item", false)) {
          // Someone changes the last item of every array of objects (boost_by) that has two:
          // with a manifest edit of another item in the same run, both meet in one array.
          bool changed = false;
          for (const auto& [dns, items] : m_remote->instances())
            for (const auto& [did, o] : items) {
              if (!o.contains("retrieval_options") || !o["retrieval_options"].is_object() ||
                  !o["retrieval_options"].contains("boost_by") ||
                  !o["retrieval_options"]["boost_by"].is_array() ||
                  o["retrieval_options"]["boost_by"].size() < 2)
                continue;
              auto ro = o["retrieval_options"];
              auto& item = ro["boost_by"].back();
              item["direction"] = item.value("direction", "asc") == "exists" ? "asc" : "exists";
              m_remote->set_field(dns, did, "retrieval_options", ro);
              changed = true;
            }
          if (changed)
            count(m_cov, &Coverage::array_item_drift);
          else
            m_remote->set_field(ns, id, "max_num_results", 42);
        } else if (run["drift"].value("nested", false)) {
          // Someone changes one value inside an object field.
          json o = m_remote->instances()[ns][id];
          if (o.contains("indexing_options") && o["indexing_options"].is_object()) {
            auto io = o["indexing_options"];
            io["keyword_tokenizer"] =
                io.value("keyword_tokenizer", "porter") == "porter" ? "trigram" : "porter";
            m_remote->set_field(ns, id, "indexing_options", io);
          } else if (o.contains("source_params") && o["source_params"].is_object()) {
            auto sp = o["source_params"];
            sp["prefix"] = "other/";
            m_remote->set_field(ns, id, "source_params", sp);
          } else {
            m_remote->set_field(ns, id, "max_num_results", 42);
          }
        } else {
          m_remote->set_field(ns, id, "max_num_results", 42);
        }
      }
    }
  }

  void one_run(const manifest::Manifest& m, const json& run, int index) {
    count(m_cov, &Coverage::runs);
    const bool report = run.value("report", false);
    if (report) count(m_cov, &Coverage::report_runs);
    const state::State before = m_store->saved();
    m_remote_before = m_remote->instances();
    m_remote->clear_writes();
    m_remote->clear_faults();
    const std::size_t base = m_remote->request_count();
    bool any_fault = false;
    for (const auto& f : run["faults"]) {
      const std::string kind = f["kind"];
      auto fault = kind == "fail"      ? ReferenceRemote::Fault::fail
                   : kind == "lost"    ? ReferenceRemote::Fault::lost
                   : kind == "kill"    ? ReferenceRemote::Fault::kill
                   : kind == "shifted" ? ReferenceRemote::Fault::shifted_page
                                       : ReferenceRemote::Fault::short_page;
      m_remote->fault_at(base + f["at"].get<std::size_t>(), fault);
      any_fault = true;
    }

    api::ClientConfig config;
    config.api_url = support::k_fake_api_url;
    config.account_id = "acc";
    config.token = "tok";
    config.retry.max_attempts = 2;
    config.retry.jitter_seed = 1;
    config.budget.capacity = 0;
    config.concurrency = 1;
    config.per_page = 2;  // several pages per namespace: short and failed pages mid-list
    auto clock =
        std::make_shared<util::FakeClock>(util::Clock::SystemTime(std::chrono::hours(500000)));
    api::Client client(config, m_remote, clock);
    reconcile::DiffOptions options;
    options.correct_drift = !report;
    auto observed =
        reconcile::observe(client, reconcile::namespaces_to_observe(m, before), 1, before);
    reconcile::Plan plan = reconcile::diff(m, observed, before, options);
    // I6: what aisearchd deleted itself (a replace's or a prune's DELETE, also one whose answer
    // was lost) is not drift: drift: report never holds creating it again.
    for (const auto& c : plan.changes)
      if (report && c.action == reconcile::Action::create && c.blocked &&
          c.blocked->rail == "drift_report" && m_deleted.count(c.address()))
        violation(index, "I6: drift: report holds creating " + c.address() +
                             ", which aisearchd deleted itself");
    spdlog::debug("model_check run {}: {} changes, adopt [{}], forget [{}]", index,
                  plan.changes.size(), fmt::join(plan.adopt, " "), fmt::join(plan.forget, " "));
    reconcile::ApplyResult result;
    {
      state::StateWriter writer(*m_store, before, std::chrono::milliseconds(0), false);
      reconcile::ApplyOptions apply_options;
      apply_options.concurrency = 1;
      result = reconcile::apply(plan, m, client, writer, *clock, apply_options);
    }
    const bool killed = m_remote->killed();
    if (killed) {
      count(m_cov, &Coverage::kills);
      m_remote->revive();
      m_store->thaw();
    }
    const state::State after = m_store->saved();
    const auto writes = m_remote->writes();
    const auto incomplete = m_remote->incomplete_lists();
    const auto remote_after = m_remote->instances();

    coverage_of(plan, writes, incomplete, before, m, run);
    check_writes(index, m, plan, before, writes, incomplete, report);
    check_forgets(index, before, after, writes, incomplete);
    check_adoptions(index, m, before, after, writes, remote_after);
    check_foreign(index, after, remote_after);
    track(writes);
    if (!killed) check_ownership(index, after, remote_after);

    // I5: a clean run that applied everything leaves nothing to do.
    if (!any_fault && result.ok() && !killed) {
      count(m_cov, &Coverage::converged_checks);
      auto again = reconcile::diff(
          m, reconcile::observe(client, reconcile::namespaces_to_observe(m, after), 1, after),
          after, options);
      // max_deletes is a budget per run: what it held back this run goes in the next.
      std::set<std::string> budget_spent;
      for (const auto& c : plan.changes)
        if (c.blocked && c.blocked->rail == "max_deletes") budget_spent.insert(c.ns);
      for (const auto& c : again.changes)
        if (!c.blocked && !(budget_spent.count(c.ns) && (c.action == reconcile::Action::delete_ ||
                                                         c.action == reconcile::Action::replace)))
          violation(index, "I5: not converged: after a clean apply the plan still has " +
                               std::string(reconcile::to_string(c.action)) + " " + c.address() +
                               field_list(c));
    }
  }

  static std::string field_list(const reconcile::Change& c) {
    std::string out;
    for (const auto& f : c.fields) out += (out.empty() ? " (" : ", ") + f.path;
    return out.empty() ? out : out + ")";
  }

  void coverage_of(const reconcile::Plan& plan, const std::vector<ReferenceRemote::Write>& writes,
                   const std::set<std::string>& incomplete, const state::State& before,
                   const manifest::Manifest& m, const json& run) {
    for (const auto& f : run["faults"]) {
      const std::string kind = f["kind"];
      if (kind == "short") count(m_cov, &Coverage::short_lists);
      if (kind == "shifted") count(m_cov, &Coverage::shifted_lists);
      if (kind == "lost") count(m_cov, &Coverage::lost_writes);
      if (kind == "fail") count(m_cov, &Coverage::failed_requests);
    }
    count(m_cov, &Coverage::adoptions, static_cast<long>(plan.adopt.size()));
    count(m_cov, &Coverage::forgets, static_cast<long>(plan.forget.size()));
    for (const auto& c : plan.changes) {
      if (c.action == reconcile::Action::move && !c.blocked) count(m_cov, &Coverage::moves);
      if (c.action == reconcile::Action::replace && !c.blocked) count(m_cov, &Coverage::replaces);
      if (c.blocked && c.blocked->rail == "adopt_conflict")
        count(m_cov, &Coverage::adopt_conflicts);
      if (c.blocked && c.blocked->rail == "drift_report") count(m_cov, &Coverage::blocked_drift);
    }
    for (const auto& w : writes)
      if (w.method == "DELETE") count(m_cov, &Coverage::deletes);
    // A move situation (owned in A, declared in B) with either end not listed completely.
    for (const auto& [address, owned] : before.owned)
      for (const auto& [name, ns] : m.namespaces)
        if (name != owned.ns && ns.instances.count(owned.id) &&
            (incomplete.count(name) || incomplete.count(owned.ns) || incomplete.count("")))
          count(m_cov, &Coverage::moves_under_partial_lists);
  }

  static bool declares(const manifest::Manifest& m, const std::string& ns, const std::string& id) {
    auto n = m.namespaces.find(ns);
    return n != m.namespaces.end() && n->second.instances.count(id) > 0;
  }

  std::vector<std::string> declared_in(const manifest::Manifest& m, const std::string& id) const {
    std::vector<std::string> out;
    for (const auto& [name, ns] : m.namespaces)
      if (ns.instances.count(id)) out.push_back(name);
    return out;
  }

  void check_writes(int run, const manifest::Manifest& m, const reconcile::Plan& plan,
                    const state::State& before, const std::vector<ReferenceRemote::Write>& writes,
                    const std::set<std::string>& incomplete, bool report) {
    std::map<std::string, int> deletes_charged;
    std::set<std::string> created, deleted;
    for (const auto& w : writes) {
      const std::string address = w.ns + "/" + w.id;
      const bool instance_write = !w.id.empty();
      // I2: nothing done in (or on the strength of) a namespace not listed completely.
      if (instance_write && (incomplete.count(w.ns) || incomplete.count("")))
        violation(run, "I2: " + w.method + " " + address + " after a partial or failed list");
      if (w.method == "PATCH" && incomplete.count(w.to_ns))
        violation(run, "I2: move of " + address + " into " + w.to_ns + ", not listed completely");
      if (w.method == "POST") {
        created.insert(address);
        // (Not a replace in place, which deleted it here first: no move's destination; nor when
        // the manifest declares it where it is owned too: then that is no move's source.)
        for (const auto& [a, owned] : before.owned)
          if (!deleted.count(address) && owned.id == w.id && owned.ns != w.ns &&
              incomplete.count(owned.ns) && !declares(m, owned.ns, w.id))
            violation(run, "I2: created " + address + " while " + a +
                               " (owned) was in a namespace not listed completely");
      }
      // I3: no immutable field is changed in place.
      if (w.method == "PUT" && (w.body.contains("type") || w.body.contains("source")))
        violation(run, "I3: PUT of type/source to " + address + ": " + w.body.dump());
      if (w.method == "DELETE" && m_foreign.count(address))
        violation(run, "I3: deleted " + address + ", made by hand (source hand), never adopted");
      if (w.method == "PATCH" && m_foreign.count(address))
        violation(run, "I3: moved " + address + ", made by hand, never adopted");
      if (w.method == "DELETE") {
        const auto* owned = before.find(w.ns, w.id);
        if (!owned && !created.count(address))
          violation(run, "I3: deleted " + address + ", which aisearchd did not own");
        // A delete of a declared id is only the first half of an allowed replace.
        const reconcile::Change* replace = nullptr;
        for (const auto& c : plan.changes)
          if (c.action == reconcile::Action::replace && !c.blocked && c.id == w.id &&
              (c.from_ns.empty() ? c.ns : c.from_ns) == w.ns)
            replace = &c;
        // Protected by its record, or by the declaration that governs it: its own namespace's,
        // else (a replacing move) the destination's, else any.
        bool spec_protect = false;
        if (declares(m, w.ns, w.id))
          spec_protect = m.namespaces.at(w.ns).instances.at(w.id).protect;
        else if (replace)
          spec_protect = m.namespaces.at(replace->ns).instances.at(w.id).protect;
        else
          for (const auto& n : declared_in(m, w.id))
            spec_protect = spec_protect || m.namespaces.at(n).instances.at(w.id).protect;
        if ((owned && owned->protect) || spec_protect)
          violation(run, "I4: deleted " + address + ", which is protected");
        const auto elsewhere = declared_in(m, w.id);
        if (!elsewhere.empty()) {
          if (!replace || !m.namespaces.at(replace->ns).instances.at(w.id).allow_replace)
            violation(run, "I1: deleted " + address + ", which the manifest declares in " +
                               elsewhere.front());
        }
        const std::string charged = replace ? replace->ns : w.ns;
        const auto ns_it = m.namespaces.find(charged);
        const int allowed = ns_it == m.namespaces.end() ? 0 : ns_it->second.max_deletes;
        if (++deletes_charged[charged] > allowed)
          violation(run, "I4: more than max_deletes (" + std::to_string(allowed) +
                             ") deletes and replaces in " + charged);
        // I6: in report mode a replace whose type/source were applied as they are now is drift.
        if (report && replace && owned && !owned->applied_digests.empty()) {
          const auto& spec = m.namespaces.at(replace->ns).instances.at(w.id);
          bool config_changed = false;
          for (const auto& key : {"type", "source"})
            if (spec.fields.contains(key)) {
              auto it = owned->applied_digests.find(key);
              config_changed = config_changed || it == owned->applied_digests.end() ||
                               it->second != reconcile::digest(spec.fields[key]);
            }
          if (!config_changed) violation(run, "I6: drift: report replaced " + address);
        }
      }
      // A create of an owned address is a re-create (drift) unless this run deleted it first
      // (a replace, judged at its delete above).
      if (w.method == "DELETE") deleted.insert(address);
      if (w.method == "DELETE")  // a replace that moves re-creates where it lands
        for (const auto& c : plan.changes)
          if (c.action == reconcile::Action::replace && !c.blocked && c.id == w.id &&
              c.from_ns == w.ns)
            deleted.insert(c.address());
      const auto* had =
          before.find(w.ns, w.id);  // a record whose create was never confirmed is config
      if (report && w.method == "POST" && had && !had->pending_create && !had->deleting &&
          !deleted.count(address))
        violation(run, "I6: drift: report re-created " + address);
      if (report && w.method == "PUT") {
        // Every field sent must differ for the manifest's sake: one whose applied value is what
        // the manifest says now differs only by drift. A moved instance is judged by the
        // record it had where it came from.
        const auto* owned = before.find(w.ns, w.id);
        for (const auto& c : plan.changes)
          if (c.action == reconcile::Action::move && c.address() == address)
            owned = before.find(c.from_ns, c.id);
        const manifest::InstanceSpec* spec = nullptr;
        if (auto n = m.namespaces.find(w.ns); n != m.namespaces.end())
          if (auto i = n->second.instances.find(w.id); i != n->second.instances.end())
            spec = &i->second;
        if (owned && spec && !owned->applied_digests.empty() && !created.count(address)) {
          std::vector<std::string> drift_only;
          for (const auto& [key, value] : w.body.items()) {
            auto it = owned->applied_digests.find(key);
            if (spec->fields.contains(key) && it != owned->applied_digests.end() &&
                it->second == reconcile::digest(spec->fields[key]))
              drift_only.push_back(key);
          }
          if (!drift_only.empty())
            violation(run, "I6: drift: report corrected " + address + " (" +
                               util::join(drift_only, ", ") + "): " + w.body.dump());
          // Inside an object the manifest changed: a value whose applied digest is what the
          // manifest says now, and which the remote had changed, is sent as the remote had it.
          std::string src_ns = w.ns;
          for (const auto& c : plan.changes)
            if (c.action == reconcile::Action::move && c.address() == address) src_ns = c.from_ns;
          const json* was = nullptr;
          if (auto n = m_remote_before.find(src_ns); n != m_remote_before.end())
            if (auto i = n->second.find(w.id); i != n->second.end()) was = &i->second;
          std::map<std::string, std::string> paths;
          for (const auto& [key, value] : spec->fields.items())
            reconcile::path_digests(key, value, model::find_instance_field(key), paths);
          for (const auto& [path, dg] : paths) {
            if (path.find('.') == std::string::npos || !was) continue;
            auto it = owned->applied_digests.find(path);
            if (it == owned->applied_digests.end() || it->second != dg) continue;
            const json* want = reconcile::find_path(spec->fields, path);
            const json* had = reconcile::find_path(*was, path);
            const json* sent = reconcile::find_path(w.body, path);
            if (!sent || !want || (had && reconcile::satisfies(*want, *had, nullptr))) continue;
            if (had && *sent == *had) continue;
            violation(run, "I6: drift: report corrected " + address + " at " + path + " (was " +
                               (had ? had->dump() : "absent") + "): " + w.body.dump());
          }
        }
      }
    }
  }

  // I2: an owned instance is forgotten only when a complete list showed it gone.
  void check_forgets(int run, const state::State& before, const state::State& after,
                     const std::vector<ReferenceRemote::Write>& writes,
                     const std::set<std::string>& incomplete) {
    for (const auto& [address, owned] : before.owned) {
      if (after.owned.count(address)) continue;
      bool written = false;
      for (const auto& w : writes)
        written = written ||
                  (w.ns + "/" + w.id == address && (w.method == "DELETE" || w.method == "PATCH"));
      if (written) continue;
      if (incomplete.count(owned.ns) || incomplete.count(""))
        violation(run, "I2: forgot " + address + " after a partial or failed list");
      // A create's write-ahead record is ownership only of what aisearchd made: dropped when
      // the instance there is someone else's (the POST met it: 7022), it loses nothing.
      // So is a record whose instance aisearchd deleted and someone else made again since.
      const bool someone_elses =
          !m_tracked.count(address) && (owned.pending_create || m_foreign.count(address));
      if (m_remote->has(owned.ns, owned.id) && !someone_elses)
        violation(run, "I7: ownership of " + address + " was dropped, and it still exists");
    }
  }

  // I3: adopted only when type and source match the manifest.
  void check_adoptions(int run, const manifest::Manifest& m, const state::State& before,
                       const state::State& after, const std::vector<ReferenceRemote::Write>& writes,
                       const std::map<std::string, std::map<std::string, json>>& remote_after) {
    for (const auto& [address, owned] : after.owned) {
      if (before.owned.count(address)) continue;
      // A create's write-ahead record (its answer lost, or the run killed) owns nothing yet: it
      // is confirmed only when the instance there has the POST's type and source (I7 and the
      // convergence checks hold it to that).
      if (owned.pending_create) continue;
      bool made_here = false;
      for (const auto& w : writes)
        made_here = made_here || ((w.method == "POST" && w.ns + "/" + w.id == address) ||
                                  (w.method == "PATCH" && w.to_ns + "/" + w.id == address));
      if (made_here || m_tracked.count(address)) continue;
      auto n = m.namespaces.find(owned.ns);
      if (n == m.namespaces.end() || !n->second.instances.count(owned.id)) {
        violation(run, "I3: owns " + address + ", which the manifest does not declare there");
        continue;
      }
      const auto& spec = n->second.instances.at(owned.id);
      auto rn = remote_after.find(owned.ns);
      if (rn == remote_after.end() || !rn->second.count(owned.id)) continue;
      const json& object = rn->second.at(owned.id);
      for (const auto& key : {"type", "source"})
        if (spec.fields.contains(key) && object.value(key, json()) != spec.fields[key])
          violation(run, std::string("I3: adopted ") + address + " although its " + key +
                             " differs from the manifest");
    }
  }

  // The remote's object at "ns/id", or null when there is none.
  static const json* remote_object(const std::map<std::string, std::map<std::string, json>>& remote,
                                   const std::string& address) {
    const auto slash = address.find('/');
    auto n = remote.find(address.substr(0, slash));
    if (n == remote.end()) return nullptr;
    auto i = n->second.find(address.substr(slash + 1));
    return i == n->second.end() ? nullptr : &i->second;
  }

  void check_foreign(int run, const state::State& after,
                     const std::map<std::string, std::map<std::string, json>>& remote_after) {
    for (const auto& address : m_foreign) {
      const json* object = remote_object(remote_after, address);
      if (!object || object->value("source", json()) != "hand") continue;
      // A pending record (a create never confirmed) claims nothing: it is never adopted into
      // or deleted on; only a confirmed record is ownership.
      auto rec = after.owned.find(address);
      if (rec != after.owned.end() && !rec->second.pending_create)
        violation(run, "I3: owns " + address +
                           ", made by hand with source hand (another source than the manifest's)");
    }
  }
  void track(const std::vector<ReferenceRemote::Write>& writes) {
    for (const auto& w : writes) {
      const std::string address = w.ns + "/" + w.id;
      if (w.method == "POST") {
        m_tracked.insert(address);
        m_deleted.erase(address);
      }
      if (w.method == "DELETE") {
        m_foreign.erase(address);
        m_tracked.erase(address);
        m_deleted.insert(address);
      }
      if (w.method == "PATCH" && m_tracked.erase(address)) m_tracked.insert(w.to_ns + "/" + w.id);
    }
  }

  // I7: what aisearchd made or owned and still exists stays owned (after a run not killed).
  void check_ownership(int run, const state::State& after,
                       const std::map<std::string, std::map<std::string, json>>& remote_after) {
    for (const auto& address : m_tracked) {
      if (!remote_object(remote_after, address)) continue;
      if (!after.owned.count(address) && run >= 100)
        violation(run, "I7: " + address +
                           " was made or owned by aisearchd, still exists, and "
                           "is no longer owned after a clean run");
    }
  }

  const json m_case;
  Coverage* m_cov;
  std::shared_ptr<ReferenceRemote> m_remote = std::make_shared<ReferenceRemote>();
  std::unique_ptr<support::MemoryStore> m_store;
  std::set<std::string> m_start_owned;
  std::set<std::string> m_foreign;  // instances made by hand (another source), never adopted
  std::set<std::string> m_deleted;  // addresses aisearchd's own DELETE emptied (until a create)
  std::map<std::string, std::map<std::string, json>> m_remote_before;  // as the run's plan saw it
  std::set<std::string> m_tracked;  // addresses aisearchd made or owned, followed through moves
  std::vector<std::string> m_violations;
};

std::vector<std::string> check(const json& c, Coverage* coverage) {
  return Checker(c, coverage).run();
}

// ---- shrinking ----------------------------------------------------------------------------

// Smaller variants of `c`, one removal each.
std::vector<json> smaller(const json& c) {
  std::vector<json> out;
  for (std::size_t r = 0; r < c["runs"].size(); ++r) {
    json v = c;
    v["runs"].erase(r);
    out.push_back(v);
    for (std::size_t f = 0; f < c["runs"][r]["faults"].size(); ++f) {
      json w = c;
      w["runs"][r]["faults"].erase(f);
      out.push_back(w);
    }
  }
  for (const auto& [ns, spec] : c["manifest"].items()) {
    json v = c;
    v["manifest"].erase(ns);
    out.push_back(v);
    for (const auto& [id, inst] : spec["instances"].items()) {
      json w = c;
      w["manifest"][ns]["instances"].erase(id);
      out.push_back(w);
      for (const auto& [field, value] : inst["fields"].items()) {
        if (field == "type" || field == "source") continue;
        json x = c;
        x["manifest"][ns]["instances"][id]["fields"].erase(field);
        out.push_back(x);
      }
    }
  }
  for (const auto& [ns, items] : c["remote"]["instances"].items())
    for (const auto& [id, object] : items.items()) {
      json v = c;
      v["remote"]["instances"][ns].erase(id);
      out.push_back(v);
    }
  for (std::size_t i = 0; i < c["state"]["owned"].size(); ++i) {
    json v = c;
    v["state"]["owned"].erase(i);
    out.push_back(v);
  }
  return out;
}

json shrink(json c) {
  bool progress = true;
  while (progress) {
    progress = false;
    for (auto& candidate : smaller(c)) {
      if (!check(candidate, nullptr).empty()) {
        c = std::move(candidate);
        progress = true;
        break;
      }
    }
  }
  return c;
}

int report_failure(const json& c, const std::vector<std::string>& violations) {
  std::cerr << "INVARIANT VIOLATED (seed " << c.value("seed", 0) << "):\n";
  for (const auto& v : violations) std::cerr << "  " << v << "\n";
  json minimal = shrink(c);
  std::cerr << "minimal reproduction (keep it as tests/model/cases/<name>.json):\n"
            << minimal.dump(2) << "\n";
  for (const auto& v : check(minimal, nullptr)) std::cerr << "  " << v << "\n";
  return 1;
}

int usage() {
  std::cerr << "usage: model_check --seeds N [--first S] | --minutes M [--first S] | "
               "--replay DIR|FILE | --seed N --print\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::off);
  std::map<std::string, std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string key = argv[i];
    if (key == "--verbose") {
      spdlog::set_level(spdlog::level::debug);  // every action and request, to follow a case
      continue;
    }
    if (key == "--print") {
      args[key] = "1";
      continue;
    }
    if (i + 1 >= argc) return usage();
    args[key] = argv[++i];
  }
  try {
    Coverage coverage;
    if (args.count("--replay")) {
      std::vector<std::filesystem::path> files;
      std::filesystem::path p = args["--replay"];
      if (std::filesystem::is_directory(p)) {
        for (const auto& e : std::filesystem::directory_iterator(p))
          if (e.path().extension() == ".json") files.push_back(e.path());
      } else {
        files.push_back(p);
      }
      std::sort(files.begin(), files.end());
      if (files.empty()) {
        std::cerr << "model_check: no cases under " << p << "\n";
        return 1;
      }
      int failed = 0;
      for (const auto& f : files) {
        std::ifstream in(f);
        json c = json::parse(in);
        auto v = check(c, &coverage);
        std::cout << (v.empty() ? "ok   " : "FAIL ") << f.filename().string() << "\n";
        for (const auto& line : v) std::cout << "  " << line << "\n";
        failed += !v.empty();
      }
      coverage.print(std::cout);
      return failed ? 1 : 0;
    }
    if (args.count("--seed") && args.count("--print")) {
      std::cout << generate(std::stoull(args["--seed"])).dump(2) << "\n";
      return 0;
    }
    const std::uint64_t first = args.count("--first") ? std::stoull(args["--first"]) : 1;
    if (args.count("--seeds")) {
      const std::uint64_t n = std::stoull(args["--seeds"]);
      for (std::uint64_t s = first; s < first + n; ++s) {
        json c = generate(s);
        auto v = check(c, &coverage);
        if (!v.empty()) return report_failure(c, v);
      }
      std::cout << n << " seeded situations (seeds " << first << ".." << first + n - 1
                << "): no invariant violated\n";
      coverage.print(std::cout);
      return 0;
    }
    if (args.count("--minutes")) {
      const auto until =
          std::chrono::steady_clock::now() +
          std::chrono::duration<double, std::ratio<60>>(std::stod(args["--minutes"]));
      std::uint64_t s = args.count("--first") ? first : std::random_device{}();
      const std::uint64_t start = s;
      while (std::chrono::steady_clock::now() < until) {
        json c = generate(s);
        auto v = check(c, &coverage);
        if (!v.empty()) return report_failure(c, v);
        ++s;
      }
      std::cout << s - start << " random situations (seeds " << start << ".." << s - 1
                << "): no invariant violated\n";
      coverage.print(std::cout);
      return 0;
    }
  } catch (const std::exception& e) {
    std::cerr << "model_check: " << e.what() << "\n";
    return 2;
  }
  return usage();
}
