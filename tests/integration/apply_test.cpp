// Apply against the emulator: idempotence, faults, request budget (issue: apply safely,
// idempotently, and survive faults and kills).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "api/client.hpp"
#include "http/curl_transport.hpp"
#include "http/transport.hpp"
#include "manifest/loader.hpp"
#include "reconcile/apply.hpp"
#include "reconcile/diff.hpp"
#include "reconcile/observe.hpp"
#include "state/file_store.hpp"
#include "state/writer.hpp"
#include "support/emulator_process.hpp"

using nlohmann::json;

namespace {

struct Harness {
  explicit Harness(support::EmulatorProcess& emulator, int budget = 0,
                   std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    api::ClientConfig cc;
    cc.api_url = emulator.base_url();
    cc.account_id = support::EmulatorProcess::k_account;
    cc.token = support::EmulatorProcess::k_token;
    cc.http_timeout = timeout;
    cc.budget.capacity = budget;
    cc.budget.period = std::chrono::seconds(1);
    cc.retry.base_delay = std::chrono::milliseconds(20);
    cc.retry.max_delay = std::chrono::milliseconds(200);
    cc.concurrency = 8;
    client = std::make_unique<api::Client>(cc, http::make_curl_transport({}), clock);
  }

  // observe -> diff -> apply with the state in `store`; returns the apply result.
  reconcile::ApplyResult apply(const manifest::Manifest& m, state::StateStore& store) {
    auto st = store.load();
    EXPECT_TRUE(st.ok());
    auto observed = reconcile::observe(*client, reconcile::namespaces_to_observe(m, *st), 4, *st);
    auto plan = reconcile::diff(m, observed, *st);
    state::StateWriter writer(store, *st);
    reconcile::ApplyOptions options;
    options.concurrency = 8;
    return reconcile::apply(plan, m, *client, writer, *clock, options);
  }

  reconcile::Plan plan(const manifest::Manifest& m, state::StateStore& store) {
    auto st = store.load();
    auto observed = reconcile::observe(*client, reconcile::namespaces_to_observe(m, *st), 4, *st);
    return reconcile::diff(m, observed, *st);
  }

  std::shared_ptr<util::SystemClock> clock = std::make_shared<util::SystemClock>();
  std::unique_ptr<api::Client> client;
};

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/aisearchd-apply-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::filesystem::path path;
};

manifest::Manifest load(const std::filesystem::path& p) {
  auto m =
      manifest::load_manifest(p, [](const std::string&) { return std::optional<std::string>(); });
  if (!m) {
    std::string all;
    for (const auto& e : m.error()) all += e.to_string() + "\n";
    ADD_FAILURE() << all;
    return {};
  }
  return *m;
}

void declare(manifest::Manifest& m, const std::string& ns, const std::string& id, json fields) {
  auto& n = m.namespaces[ns];
  n.name = ns;
  auto& i = n.instances[id];
  i.ns = ns;
  i.id = id;
  i.fields = std::move(fields);
}

}  // namespace

TEST(ApplyIntegration, EveryExampleManifestConvergesInOneApply) {
  support::EmulatorProcess emulator;
  for (const char* example : {"examples/demo/aisearch.yaml", "examples/single-file/aisearch.yaml",
                              "examples/multi-namespace"}) {
    SCOPED_TRACE(example);
    emulator.control("POST", "reset");
    TempDir dir;
    state::FileStateStore store(dir.path);
    Harness h(emulator);
    auto m = load(std::filesystem::path(SOURCE_DIR) / example);
    ASSERT_GT(m.instance_count(), 0u);
    auto result = h.apply(m, store);
    EXPECT_EQ(result.failed, 0) << result.to_text();
    EXPECT_TRUE(result.state_errors.empty());
    auto again = h.plan(m, store);
    EXPECT_FALSE(again.has_changes())
        << "not idempotent: " << again.summary().total() << " changes remain";
    // Every declared instance is owned now, except the suspended ones (left alone).
    std::size_t active = 0;
    for (const auto& [name, ns] : m.namespaces)
      for (const auto& [id, inst] : ns.instances) active += !ns.suspend && !inst.suspend;
    auto st = store.load();
    EXPECT_EQ(st->owned.size(), active);
  }
}

TEST(ApplyIntegration, RandomManifestAndRemoteStatesConvergeInOneApply) {
  support::EmulatorProcess emulator;
  std::mt19937 rng(7);
  auto coin = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };
  const std::vector<std::string> namespaces = {"default", "team-a", "team-b"};
  for (int seed = 0; seed < 200; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    emulator.control("POST", "reset");
    TempDir dir;
    state::FileStateStore store(dir.path);
    Harness h(emulator);
    manifest::Manifest m;
    json remote = json::array();
    for (const auto& ns : namespaces) {
      for (int k = 0; k < 4; ++k) {
        std::string id = "i" + std::to_string(k);
        bool in_manifest = coin(60);
        bool in_remote = coin(50);
        json fields = {{"type", "r2"},
                       {"source", "bucket-" + id},
                       {"chunk_size", 256 + 64 * static_cast<int>(rng() % 4)}};
        if (coin(50)) fields["max_num_results"] = 1 + static_cast<int>(rng() % 50);
        if (coin(30)) fields["indexing_options"] = {{"use_ocr", coin(50)}};
        if (coin(20)) fields["paused"] = coin(50);
        if (coin(20))
          fields["retrieval_options"] = {{"keyword_match_mode", coin(50) ? "and" : "or"}};
        if (in_manifest) {
          declare(m, ns, id, fields);
          if (coin(30)) m.namespaces[ns].description = "ns " + ns;
        }
        if (in_remote) {
          json r = {{"id", id}, {"namespace", ns}, {"type", "r2"}, {"source", "bucket-" + id}};
          if (coin(50)) r["chunk_size"] = 1024;
          if (coin(30)) r["max_num_results"] = 3;
          remote.push_back(r);
        }
      }
    }
    if (!remote.empty()) emulator.control("POST", "seed", {{"instances", remote}});
    auto result = h.apply(m, store);
    ASSERT_EQ(result.failed, 0) << result.to_text();
    auto again = h.plan(m, store);
    ASSERT_FALSE(again.has_changes())
        << "seed " << seed << ": " << again.summary().total() << " changes remain";
    // Unowned remote instances are never touched: every seeded instance outside the manifest is
    // still there.
    auto dump = emulator.control("GET", "state");
    std::set<std::string> present;
    for (const auto& i : dump["instances"])
      present.insert(i.value("namespace", "default") + "/" + i.value("id", ""));
    for (const auto& r : remote) {
      std::string address = r["namespace"].get<std::string>() + "/" + r["id"].get<std::string>();
      EXPECT_TRUE(present.count(address)) << address << " was deleted";
    }
  }
}

TEST(ApplyIntegration, FaultsConvergeWithinFiveAppliesWithoutDuplicatesOrUnownedDeletes) {
  // A "timeout" fault holds its answer longer than the client waits (5 s), so it is always a
  // client timeout; and 5 s is long enough that a busy machine's slow answer is not taken for
  // one.
  support::EmulatorProcess emulator({"--seed", "42", "--timeout-hold", "6s"});
  TempDir dir;
  state::FileStateStore store(dir.path);
  Harness h(emulator, 0, std::chrono::milliseconds(5000));
  manifest::Manifest m;
  for (int k = 0; k < 40; ++k)
    declare(m, k % 2 ? "default" : "faulty", "inst-" + std::to_string(k),
            {{"type", "r2"},
             {"source", "b" + std::to_string(k)},
             {"max_num_results", 5},
             {"paused", k % 3 == 0}});
  m.namespaces["default"].prune = true;
  m.namespaces["default"].max_deletes = 100;
  emulator.control("POST", "seed",
                   {{"instances", json::array({{{"id", "hand-made"}, {"source", "theirs"}}})}});
  emulator.control(
      "PUT", "config",
      {{"fault_rate", 0.2}, {"faults", {"500", "503", "reset", "timeout", "truncate", "429"}}});
  int applies = 0;
  bool converged = false;
  while (applies < 5 && !converged) {
    ++applies;
    h.apply(m, store);
    emulator.control("PUT", "config", {{"fault_rate", 0.0}});
    converged = !h.plan(m, store).has_changes();
    emulator.control("PUT", "config", {{"fault_rate", 0.2}});
  }
  emulator.control("PUT", "config", {{"fault_rate", 0.0}});
  EXPECT_TRUE(converged) << "not converged after " << applies << " applies";

  auto log = emulator.control("GET", "requests");
  std::map<std::string, int> creates;
  int deletes = 0;
  for (const auto& r : log) {
    std::string method = r.value("method", "");
    std::string path = r.value("path", "");
    int status = support::logged_status(r);
    if (method == "DELETE") ++deletes;
    if (method == "POST" && path.find("/instances") != std::string::npos &&
        path.find("/jobs") == std::string::npos && status >= 200 && status < 300)
      ++creates[path];
  }
  EXPECT_EQ(deletes, 0) << "no instance may be deleted: the only undeclared one is unowned";
  int successful_creates = 0;
  for (const auto& [path, n] : creates) successful_creates += n;
  EXPECT_LE(successful_creates, 40) << "a create succeeded more often than there are instances";
  auto dump = emulator.control("GET", "state");
  EXPECT_EQ(dump["instances"].size(), 41u);
}

TEST(ApplyIntegration, BudgetBelowTheServerLimitCausesNo429) {
  // The server allows 100 requests per second; the client's budget is 35 per second. Any second
  // of the server's window sees at most a full bucket plus a second's refill (70) plus the
  // requests that left earlier and arrive late (at most the 8 in flight): 78, well under 100
  // however the machine delays them (as 600/5m under Cloudflare's 1200/5m).
  support::EmulatorProcess emulator({"--rate-limit", "100/1"});
  TempDir dir;
  state::FileStateStore store(dir.path);
  Harness h(emulator, 35);
  manifest::Manifest m;
  for (int k = 0; k < 300; ++k)
    declare(m, "default", "c" + std::to_string(k), {{"source", "b"}, {"type", "r2"}});
  auto result = h.apply(m, store);
  EXPECT_EQ(result.done, 300);
  int too_many = 0;
  for (const auto& r : emulator.control("GET", "requests"))
    if (support::logged_status(r) == 429) ++too_many;
  EXPECT_EQ(too_many, 0);
}

namespace {

// Forwards the first `keep` saves to `inner` and then drops every save while reporting success:
// the state a process leaves when it is killed before its later saves reach the disk.
class CrashingStore final : public state::StateStore {
 public:
  CrashingStore(state::StateStore& inner, int keep) : m_inner(inner), m_keep(keep) {}
  util::Result<state::State, std::string> load() override { return m_inner.load(); }
  util::Result<void, std::string> save(const state::State& s) override {
    if (m_saves++ < m_keep) return m_inner.save(s);
    return {};
  }
  std::string describe() const override { return "crashing " + m_inner.describe(); }

 private:
  state::StateStore& m_inner;
  int m_keep;
  int m_saves = 0;
};

int write_requests(support::EmulatorProcess& emulator) {
  int writes = 0;
  for (const auto& r : emulator.control("GET", "requests")) {
    const std::string method = r.value("method", "");
    writes += method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
  }
  return writes;
}

}  // namespace

TEST(ApplyIntegration, WritesWhoseRecordsAreLostInACrashAreNeitherRepeatedNorMisjudged) {
  support::EmulatorProcess emulator;
  TempDir dir;
  state::FileStateStore store(dir.path);
  Harness h(emulator);
  manifest::Manifest m;
  for (int k = 0; k < 30; ++k)
    declare(m, "default", "old-" + std::to_string(k), {{"type", "r2"}, {"source", "b"}});
  m.namespaces["default"].prune = true;
  m.namespaces["default"].max_deletes = 10;
  ASSERT_TRUE(h.apply(m, store).ok());

  // Ten leave the manifest (pruned), ten arrive; only the bookkeeping save before the first write
  // reaches the disk: every record of a delete or create is lost.
  for (int k = 0; k < 10; ++k) {
    m.namespaces["default"].instances.erase("old-" + std::to_string(k));
    declare(m, "default", "new-" + std::to_string(k), {{"type", "r2"}, {"source", "b"}});
  }
  {
    CrashingStore crashing(store, 1);
    auto result = h.apply(m, crashing);
    ASSERT_EQ(result.done, 20) << result.to_text();
  }
  auto stale = store.load();
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->owned.size(), 30u);  // still the ten deleted, not yet the ten created
  EXPECT_FALSE(stale->owns("default", "new-0"));

  // The next apply adopts what was created (shown as adoptions: state has no record of them)
  // and forgets what was deleted, without a write.
  emulator.control("DELETE", "requests");
  auto recovered = h.apply(m, store);
  EXPECT_TRUE(recovered.ok()) << recovered.to_text();
  EXPECT_EQ(recovered.results.size(), 10u) << recovered.to_text();
  for (const auto& r : recovered.results) {
    EXPECT_EQ(r.action, "adopt") << r.address;
    EXPECT_EQ(r.status, "done") << r.address;
  }
  EXPECT_EQ(write_requests(emulator), 0);
  auto st = store.load();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->owned.size(), 30u);
  EXPECT_TRUE(st->owns("default", "new-9"));
  EXPECT_FALSE(st->owns("default", "old-0"));
  EXPECT_FALSE(h.plan(m, store).has_changes());
  EXPECT_EQ(emulator.control("GET", "state")["instances"].size(), 30u);
}
