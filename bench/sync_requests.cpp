// Request cost of sync jobs (issue 13): N instances each syncing hourly (`every: 1h`, jitter 10m),
// jobs lasting job_seconds +/- 10 %, run by the daemon's engine (jobs::SyncManager) against a
// simulated jobs API on simulated time. Prints the API requests per hour and per job, and the
// share of Cloudflare's limit (1200 requests per 5 minutes = 14,400 per hour) and of the default
// client budget (600 per 5 minutes = 7,200 per hour).
//
//   bench_sync_requests [instances=100] [hours=4] [job_seconds=300]

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "api/client.hpp"
#include "jobs/runner.hpp"
#include "jobs/sync_manager.hpp"
#include "sim_api.hpp"
#include "state/writer.hpp"
#include "util/clock.hpp"

namespace {

class NullStore final : public state::StateStore {
 public:
  util::Result<state::State, std::string> load() override { return state::State{}; }
  util::Result<void, std::string> save(const state::State&) override { return {}; }
  std::string describe() const override { return "none"; }
};

class CountingReporter final : public jobs::Reporter {
 public:
  std::map<std::string, int> outcomes;
  void outcome(const std::string&, const state::JobRecord& r) override { ++outcomes[r.outcome]; }
  void stalled(const std::string&, const std::string&) override {}
};

struct Result {
  std::vector<std::size_t> per_hour;       // requests
  std::vector<std::size_t> jobs_per_hour;  // jobs created
  std::map<std::string, std::size_t> by_kind;
  std::map<std::string, int> outcomes;
};

Result simulate(int instances, int hours, int job_seconds, manifest::SyncSpec::Concurrency c,
                int spread_seconds) {
  using namespace std::chrono;
  auto clock = std::make_shared<util::FakeClock>(util::Clock::SystemTime(seconds(1'800'000'000)));
  auto sim = std::make_shared<jobs_test::SimApi>(*clock);
  sim->job_duration = seconds(job_seconds);
  sim->duration_spread = seconds(spread_seconds);
  api::ClientConfig config;
  config.api_url = jobs_test::k_sim_url;
  config.account_id = "acc";
  config.token = "bench";
  config.budget.capacity = 0;
  api::Client client(config, sim, clock);
  NullStore store;
  state::StateWriter writer(store, state::State{});
  CountingReporter reporter;
  jobs::Runner runner(client, *clock, writer, reporter, jobs::FollowOptions{});
  jobs::SyncManager manager(runner, client, *clock, writer, reporter, jobs::SyncManagerOptions{0});
  manifest::Manifest m;
  auto& ns = m.namespaces["default"];
  ns.name = "default";
  for (int i = 0; i < instances; ++i) {
    auto& inst = ns.instances["inst-" + std::to_string(i)];
    inst.ns = "default";
    inst.id = "inst-" + std::to_string(i);
    manifest::SyncSpec s;
    s.every = std::chrono::hours(1);
    s.jitter = minutes(10);
    s.concurrency = c;
    s.timeout = std::chrono::hours(2);
    inst.sync = s;
  }
  manager.set_manifest(m);

  Result result;
  const auto start = clock->now();
  manager.tick(start);  // first sight: the first slot is the next full hour
  // The daemon's loop and workers: run what is due, then sleep until the next task or slot.
  const auto run_until = [&](util::Clock::SystemTime until) {
    for (;;) {
      manager.tick(clock->now());
      manager.run_due_work();
      std::optional<util::Clock::SystemTime> next;
      if (auto work = manager.next_work())
        next = clock->now() +
               std::max(duration_cast<milliseconds>(*work - clock->steady_now()), milliseconds(0));
      if (auto due = manager.next_due(); due && (!next || *due < *next)) next = *due;
      if (!next || *next > until) break;
      if (*next > clock->now()) clock->advance(ceil<milliseconds>(*next - clock->now()));
    }
    if (until > clock->now()) clock->advance(ceil<milliseconds>(until - clock->now()));
  };
  // Hour h covers [start + h, start + h + 1): every instance's slot falls in it once.
  for (int h = 0; h <= hours; ++h) {
    const std::size_t before = sim->total();
    const std::size_t jobs_before = sim->count("create_job");
    run_until(start + std::chrono::hours(h + 1));
    result.per_hour.push_back(sim->total() - before);
    result.jobs_per_hour.push_back(sim->count("create_job") - jobs_before);
  }
  for (const auto& k : {"list_jobs", "create_job", "get_job", "cancel_job", "stats", "job_logs"})
    result.by_kind[k] = sim->count(k);
  result.outcomes = reporter.outcomes;
  return result;
}

void print(const char* name, int instances, int job_seconds, int spread, const Result& r) {
  constexpr double k_limit_per_hour = 1200.0 * 12;  // Cloudflare: 1200 per 5 minutes
  constexpr double k_budget_per_hour = 600.0 * 12;  // default request_budget 600/5m
  std::printf("concurrency=%s instances=%d job_duration=%ds +/- %ds\n", name, instances,
              job_seconds, spread);
  for (std::size_t h = 0; h < r.per_hour.size(); ++h) {
    const double per_job = r.jobs_per_hour[h] ? static_cast<double>(r.per_hour[h]) /
                                                    static_cast<double>(r.jobs_per_hour[h])
                                              : 0.0;
    std::printf(
        "  hour %zu: %zu requests, %zu jobs, %.2f requests/job; %.1f%% of Cloudflare's "
        "1200/5m, %.1f%% of the default budget 600/5m%s\n",
        h, r.per_hour[h], r.jobs_per_hour[h], per_job,
        100.0 * static_cast<double>(r.per_hour[h]) / k_limit_per_hour,
        100.0 * static_cast<double>(r.per_hour[h]) / k_budget_per_hour,
        h == 0  ? "  (the first jobs: no duration history, polls back off from 5 s)"
        : h < 5 ? "  (a history of fewer than 5 jobs)"
                : "");
  }
  std::printf("  by kind:");
  for (const auto& [k, v] : r.by_kind) std::printf(" %s=%zu", k.c_str(), v);
  std::printf("\n  outcomes:");
  for (const auto& [k, v] : r.outcomes) std::printf(" %s=%d", k.c_str(), v);
  std::printf("\n");
}

double steady_per_job(const Result& r) {
  if (r.per_hour.empty() || r.jobs_per_hour.back() == 0) return 0;
  return static_cast<double>(r.per_hour.back()) / static_cast<double>(r.jobs_per_hour.back());
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  const int instances = argc > 1 ? std::atoi(argv[1]) : 100;
  const int hours = argc > 2 ? std::atoi(argv[2]) : 4;
  const int job_seconds = argc > 3 ? std::atoi(argv[3]) : 300;
  if (instances <= 0 || hours <= 1 || job_seconds <= 0) {
    std::fprintf(stderr, "usage: %s [instances] [hours >= 2] [job_seconds]\n", argv[0]);
    return 2;
  }
  // Requests per job in steady state (issue 13: at most 3.0 under the default, forbid): the
  // job list that confirms, before each slot's trigger, that no job runs (one Cloudflare or
  // `aisearchd sync` started would be superseded by the POST), the trigger, and one poll placed
  // by the duration history; replace needs no list, so 2.0 there.
  auto target_of = [](manifest::SyncSpec::Concurrency c) {
    return c == manifest::SyncSpec::Concurrency::forbid ? 3.0 : 2.0;
  };
  const int spread = job_seconds / 10;
  bool ok = true;
  for (auto c :
       {manifest::SyncSpec::Concurrency::forbid, manifest::SyncSpec::Concurrency::replace}) {
    const char* name = c == manifest::SyncSpec::Concurrency::forbid ? "forbid" : "replace";
    const Result r = simulate(instances, hours, job_seconds, c, spread);
    print(name, instances, job_seconds, spread, r);
    const double per_job = steady_per_job(r);
    const double k_target = target_of(c);
    const bool pass = per_job > 0 && per_job <= k_target;
    std::printf("  steady state (the last hour): %.2f requests/job, target <= %.1f: %s\n", per_job,
                k_target, pass ? "PASS" : "FAIL");
    ok = ok && pass;
  }
  // The same steady state scaled to 1,000 instances, against Cloudflare's limit.
  const Result big =
      simulate(1000, 2, job_seconds, manifest::SyncSpec::Concurrency::forbid, spread);
  const double per_hour = static_cast<double>(big.per_hour.back());
  std::printf(
      "1000 instances (forbid, hourly, %ds +/- %ds): %.0f requests/hour = %.0f per 5 minutes on "
      "average, %.1f%% of Cloudflare's 1200/5m (%.2f requests/job)\n",
      job_seconds, spread, per_hour, per_hour / 12.0, 100.0 * per_hour / (1200.0 * 12),
      steady_per_job(big));
  return ok ? 0 : 1;
}
