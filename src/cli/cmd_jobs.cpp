// sync, status, state show: the commands about jobs and what state knows.
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <optional>
#include <set>

#include "cli/commands.hpp"
#include "cli/context.hpp"
#include "cli/sync_progress.hpp"
#include "daemon/status.hpp"
#include "jobs/reporter.hpp"
#include "jobs/runner.hpp"
#include "state/writer.hpp"
#include "util/duration.hpp"
#include "util/time_format.hpp"

namespace cli {

namespace {

nlohmann::json record_json(const std::string& address, const state::JobRecord& r) {
  nlohmann::json j = state::job_record_json(r);
  j["address"] = address;
  return j;
}

// A reporter that says nothing: the command prints the outcome itself.
class QuietReporter final : public jobs::Reporter {
 public:
  void outcome(const std::string&, const state::JobRecord&) override {}
  void stalled(const std::string& address, const std::string& job_id) override {
    std::cerr << address << ": job " << job_id
              << " looks stalled (last_seen_at stopped advancing)\n";
  }
};

// A store that keeps nothing, for a sync run while another process holds the state lock.
class DiscardStore final : public state::StateStore {
 public:
  util::Result<state::State, std::string> load() override { return state::State{}; }
  util::Result<void, std::string> save(const state::State&) override { return {}; }
  std::string describe() const override { return "none"; }
};

// Control characters (a remote id may hold ESC or a newline) shown as '?': a status row cannot
// be forged or recoloured by what the API returns.
std::string printable(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return text;
}

std::string cell(const nlohmann::json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>().empty() ? "-" : printable(v.get<std::string>());
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  return v.dump();
}

}  // namespace

int cmd_sync(const Options& options) {
  std::string ns, id;
  if (!parse_address(options.args, "sync", ns, id)) return k_exit_error;
  if (options.no_wait && options.timeout) {
    std::cerr << "aisearchd sync: --timeout bounds the wait, and --no-wait does not wait: give "
                 "one of them\n";
    return k_exit_error;
  }
  std::optional<util::Millis> timeout;
  if (options.timeout) {
    auto parsed = util::parse_duration(*options.timeout);
    if (!parsed || parsed.value().count() <= 0) {
      std::cerr << "aisearchd sync: --timeout \"" << *options.timeout
                << "\": " << (parsed ? std::string("must be longer than 0") : parsed.error())
                << " (a duration such as 30m)\n";
      return k_exit_error;
    }
    timeout = parsed.value();
  }
  Context ctx;
  if (!ctx.init(options, "warn")) return k_exit_error;
  ctx.load_manifest_optional();
  if (!ctx.connect()) return k_exit_error;

  manifest::SyncSpec policy;
  std::string suspended;  // why the manifest leaves the instance alone, "" when it does not
  if (ctx.have_manifest) {
    auto n = ctx.manifest.namespaces.find(ns);
    if (n != ctx.manifest.namespaces.end()) {
      if (n->second.suspend) suspended = "its namespace is suspended (suspend: true)";
      auto i = n->second.instances.find(id);
      if (i != n->second.instances.end()) {
        if (i->second.sync) policy = *i->second.sync;
        if (suspended.empty() && i->second.suspend)
          suspended = "the instance is suspended (suspend: true)";
      }
    }
  }
  // An instance neither declared nor owned is not aisearchd's: it never touches one, a sync
  // included.
  bool declared = false;
  if (ctx.have_manifest) {
    auto n = ctx.manifest.namespaces.find(ns);
    declared = n != ctx.manifest.namespaces.end() && n->second.instances.count(id) > 0;
  }
  if (!declared) {
    auto known = ctx.load_state();
    if (!known) return k_exit_error;
    if (!known->owns(ns, id)) {
      std::cerr << "aisearchd sync: " << ns << "/" << id
                << " is neither in the manifest nor owned by aisearchd: it is not aisearchd's "
                   "to sync (declare it in the manifest, or adopt it)\n";
      return k_exit_error;
    }
  }
  // `sync.suspend` stops every trigger, a manual one too; so does a suspended instance or
  // namespace (aisearchd leaves it alone).
  if (suspended.empty() && policy.suspend) suspended = "sync is suspended (sync.suspend: true)";
  if (!suspended.empty()) {
    std::cerr << "aisearchd sync: " << ns << "/" << id << ": " << suspended
              << " in the manifest: no job started\n";
    return k_exit_error;
  }

  // Record the outcome in state when we can take the lock `apply` takes (with the etcd backend
  // also the etcd lock, which fences the store's writes); a running daemon holds it, and then the
  // outcome is printed only (the daemon observes the job and records it itself). lock_state()
  // has already named the holder on stderr when it refuses.
  auto lock = ctx.lock_state();
  DiscardStore discard;
  state::StateStore* store = ctx.store.get();
  state::State initial;
  if (lock) {
    auto loaded = ctx.load_state();
    if (!loaded) return k_exit_error;
    initial = std::move(*loaded);
  } else {
    std::cerr << "aisearchd sync: without the state lock the outcome is printed, not recorded\n";
    store = &discard;
  }
  state::StateWriter writer(*store, std::move(initial));
  QuietReporter reporter;
  jobs::Runner runner(*ctx.client, ctx.clock, writer, reporter, jobs::FollowOptions{});
  const std::string address = ns + "/" + id;
  // While it waits: the job's progress on stderr, and --timeout (issue 17). The job's newest log
  // line is read at most every 10 s.
  SyncProgress progress(
      std::cerr, ctx.clock, address,
      [&](const std::string& job_id) -> std::optional<std::string> {
        auto logs = ctx.client->job_logs_tail(ns, id, job_id, 1);
        if (!logs || logs.value().empty()) return std::nullopt;
        return logs.value().back().message;
      },
      sync_progress_options(timeout));
  // `started`: the job is the one this command started (else one it waited for, under forbid).
  const auto gave_up = [&](const std::string& job_id, bool started) {
    progress.end();
    std::cerr << "aisearchd sync: " << address << ": stopped waiting after "
              << util::format_duration(*timeout) << " (--timeout)";
    if (!started)
      std::cerr << " for the running job " << job_id << " to end; no job was started";
    else if (!job_id.empty())
      std::cerr << "; job " << job_id << " keeps running remotely (aisearchd does not cancel it)";
    std::cerr << "\n";
    return k_exit_error;
  };
  if (!options.no_wait) progress.start();
  // Under forbid a manual sync during a run (the daemon's, Cloudflare's) coalesces into one run
  // after it ends (PRODUCT.md §7): wait for it, then trigger. With --no-wait nothing waits: the
  // trigger below finds the job and the run is `skipped`.
  if (policy.concurrency == manifest::SyncSpec::Concurrency::forbid && !options.no_wait) {
    auto idle = runner.wait_until_idle(ns, id, progress.stop(), [&](const api::Job& job) {
      std::cerr << address << ": job " << job.id << " is running (concurrency: forbid): waiting "
                << "for it to end, then starting one\n";
      progress.following(job.id, "running (waiting for its end before starting one)");
    });
    if (!idle && progress.timed_out()) return gave_up(progress.job_id(), false);
    if (!idle && runner.token_rejected())
      return report_token_rejected("sync", runner.token_rejected());
    if (!idle) {
      std::cerr << "aisearchd sync: " << address << ": " << idle.error() << "\n";
      return k_exit_error;
    }
  }
  // A job may run for hours: say which one is followed while the command waits.
  auto record = runner.run(ns, id, policy, "manual", !options.no_wait, progress.stop(), "",
                           [&](const api::Job& job) {
                             std::cerr << address << ": job " << job.id
                                       << " started; waiting for it to end (interrupting leaves "
                                          "it running)\n";
                             progress.following(job.id);
                           });
  progress.end();
  if (record.job_id.empty() && runner.token_rejected())
    return report_token_rejected("sync", runner.token_rejected());
  // A job this command started runs after every change so far: it covers a run an earlier
  // apply held for the instance, which is no longer held (the daemon or the next apply would
  // otherwise start one more).
  if (lock && !record.job_id.empty() && record.outcome != "skipped") {
    auto cleared = writer.update([&](state::State& s) {
      if (auto it = s.sync.find(address); it != s.sync.end()) it->second.held.clear();
    });
    if (!cleared.ok())
      std::cerr << "aisearchd sync: the held run of " << address
                << " was not cleared: " << cleared.error() << "\n";
  }
  if (progress.timed_out() && record.outcome.empty())
    return gave_up(record.job_id.empty() ? progress.job_id() : record.job_id, true);

  if (options.output == "json") {
    std::cout << record_json(address, record).dump(2) << "\n";
  } else if (options.no_wait && record.outcome.empty()) {
    std::cout << address << ": job " << record.job_id << " started\n";
  } else {
    std::cout << address << ": " << record.outcome;
    if (record.duration_seconds > 0) {
      char buf[32];
      std::snprintf(buf, sizeof buf, " in %.1fs", record.duration_seconds);
      std::cout << buf;
    }
    if (!record.job_id.empty()) std::cout << " (job " << record.job_id;
    if (!record.end_reason.empty())
      std::cout << (record.job_id.empty() ? " (" : ", ") << "end_reason " << record.end_reason;
    if (!record.job_id.empty() || !record.end_reason.empty()) std::cout << ")";
    std::cout << "\n";
    if (!record.error_counts.empty())
      std::cout << "  errors: " << record.error_counts.dump() << "\n";
    for (const auto& line : record.log_tail) std::cout << "  | " << line << "\n";
  }
  if (options.no_wait) return record.job_id.empty() ? k_exit_error : k_exit_ok;
  return record.outcome == "succeeded" ? k_exit_ok : k_exit_error;
}

int cmd_status(const Options& options) {
  Context ctx;
  if (!ctx.init(options, "warn")) return k_exit_error;
  ctx.load_manifest_optional();
  auto st = ctx.load_state();
  if (!st) return k_exit_error;
  auto instances =
      service::instances_status(ctx.have_manifest ? &ctx.manifest : nullptr, *st, ctx.clock.now());
  if (!options.targets.empty()) {
    // --target: those instances only; one that status does not know is said, not skipped.
    std::set<std::string> wanted;
    for (const auto& t : options.targets) {
      std::string ns, id;
      if (!parse_address({t}, "status", ns, id)) return k_exit_error;
      wanted.insert(ns + "/" + id);
    }
    nlohmann::json kept = nlohmann::json::array();
    for (auto& i : instances) {
      if (wanted.erase(i.value("address", ""))) kept.push_back(std::move(i));
    }
    for (const auto& t : wanted) {
      std::cerr << "aisearchd status: --target " << t
                << " is neither in the manifest nor in the state\n";
      return k_exit_error;
    }
    instances = std::move(kept);
  }
  if (options.output == "json") {
    nlohmann::json out = {{"instances", instances}, {"role", "standalone"}};
    std::cout << out.dump(2) << "\n";
    return k_exit_ok;
  }
  // One row per instance: INSTANCE OWNED SYNC (last outcome, its age) HEALTH NEXT DUE UNSTABLE.
  const auto now = ctx.clock.now();
  struct Row {
    std::string instance, owned, sync, health, drift, next_due, unstable;
  };
  std::vector<Row> rows;
  for (const auto& i : instances) {
    Row r;
    r.instance = cell(i["address"]);
    if (i.value("suspended", false)) r.instance += " (suspended)";
    r.owned = i.value("unmanaged", false) ? "no (unmanaged)" : cell(i["owned"]);
    for (const auto& f : i["drift"])
      r.drift += (r.drift.empty() ? "" : ",") + printable(f.get<std::string>());
    if (r.drift.empty()) r.drift = "-";
    r.sync = cell(i["last_outcome"]);
    if (i["last_outcome_at"].is_string()) {
      if (auto at = util::parse_rfc3339(i["last_outcome_at"].get<std::string>())) {
        // Whole seconds: "succeeded, 2m10s ago".
        const auto age = std::max(std::chrono::duration_cast<std::chrono::seconds>(now - *at),
                                  std::chrono::seconds(0));
        r.sync +=
            ", " +
            util::format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(age)) +
            " ago";
      }
    }
    if (i.value("sync_suspended", false)) r.sync += " (sync suspended)";
    r.health = cell(i["health"]);
    if (i["health"] == "fresh" && i["freshness_seconds"].is_number())
      r.health += " (" +
                  util::format_duration(std::chrono::seconds(
                      static_cast<long long>(i["freshness_seconds"].get<double>()))) +
                  ")";
    r.next_due = cell(i["next_due"]);
    for (const auto& f : i["unstable"])
      r.unstable += (r.unstable.empty() ? "" : ",") + f.get<std::string>();
    if (r.unstable.empty()) r.unstable = "-";
    rows.push_back(std::move(r));
  }
  if (options.output == "markdown") {
    std::printf("| instance | owned | sync | health | drift | next due | unstable |\n");
    std::printf("|---|---|---|---|---|---|---|\n");
    auto md = [](std::string v) {
      std::string out;
      for (char c : v) out += c == '|' ? std::string("\\|") : std::string(1, c);
      return out;
    };
    for (const auto& r : rows)
      std::printf("| %s | %s | %s | %s | %s | %s | %s |\n", md(r.instance).c_str(), r.owned.c_str(),
                  md(r.sync).c_str(), r.health.c_str(), md(r.drift).c_str(), r.next_due.c_str(),
                  md(r.unstable).c_str());
    if (rows.empty()) std::printf("\n(no instances in the manifest or state)\n");
    return k_exit_ok;
  }
  // Columns as wide as their widest cell, so a long id or "no (unmanaged)" never shifts a row.
  const std::vector<std::string> header = {"INSTANCE", "OWNED",    "SYNC",    "HEALTH",
                                           "DRIFT",    "NEXT DUE", "UNSTABLE"};
  const auto cells = [](const Row& r) {
    return std::vector<std::string>{r.instance, r.owned,    r.sync,    r.health,
                                    r.drift,    r.next_due, r.unstable};
  };
  std::vector<std::size_t> width(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& r : rows) {
    const auto row = cells(r);
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  const auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line.append(row[c]);
      if (c + 1 < row.size()) line.append(width[c] - row[c].size() + 1, ' ');
    }
    std::cout << line << "\n";
  };
  print_row(header);
  for (const auto& r : rows) print_row(cells(r));
  if (st->observation && !st->observation->at.empty())
    std::printf("(drift and unmanaged instances as the reconcile at %s saw them)\n",
                st->observation->at.c_str());
  if (instances.empty()) std::printf("(no instances in the manifest or state)\n");
  return k_exit_ok;
}

}  // namespace cli

namespace cli {

int cmd_state(const Options& options) {
  if (options.args.empty() || (options.args[0] != "show" && options.args[0] != "migrate")) {
    std::cerr << "aisearchd state: expected `state show` or `state migrate --to etcd|file`\n";
    return k_exit_error;
  }
  Context ctx;
  if (!ctx.init(options, "warn")) return k_exit_error;
  if (options.args[0] == "migrate") return cmd_state_migrate(options, ctx);
  auto st = ctx.load_state();
  if (!st) return k_exit_error;
  std::cout << st->to_json().dump(2) << "\n";
  return k_exit_ok;
}

}  // namespace cli
