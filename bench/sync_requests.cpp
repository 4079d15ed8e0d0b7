// Request cost of sync jobs: 100 instances each syncing hourly, jobs lasting 5 minutes, followed by
// jobs::Runner against a simulated jobs API on simulated time. Prints the API requests per hour
// and their share of the default request budget (600 per 5 minutes = 7,200 per hour).
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

class NullReporter final : public jobs::Reporter {
 public:
  std::map<std::string, int> outcomes;
  void outcome(const std::string&, const state::JobRecord& r) override { ++outcomes[r.outcome]; }
  void stalled(const std::string&, const std::string&) override {}
};

struct Result {
  std::vector<std::size_t> per_hour;
  std::map<std::string, std::size_t> by_kind;
  std::map<std::string, int> outcomes;
};

Result simulate(int instances, int hours, int job_seconds, manifest::SyncSpec::Concurrency c,
                int spread_seconds) {
  auto clock = std::make_shared<util::FakeClock>(
      util::Clock::SystemTime(std::chrono::seconds(1'800'000'000)));
  auto sim = std::make_shared<jobs_test::SimApi>(*clock);
  sim->job_duration = std::chrono::seconds(job_seconds);
  sim->duration_spread = std::chrono::seconds(spread_seconds);
  api::ClientConfig config;
  config.api_url = jobs_test::k_sim_url;
  config.account_id = "acc";
  config.token = "bench";
  config.budget.capacity = 0;
  api::Client client(config, sim, clock);
  NullStore store;
  state::StateWriter writer(store, state::State{});
  NullReporter reporter;
  jobs::Runner runner(client, *clock, writer, reporter, jobs::FollowOptions{});
  manifest::SyncSpec policy;
  policy.every = std::chrono::hours(1);
  policy.concurrency = c;
  policy.timeout = std::chrono::hours(2);

  Result result;
  const std::vector<std::string> kinds = {"list_jobs",  "create_job", "get_job",
                                          "cancel_job", "stats",      "job_logs"};
  // Each instance's runs are an hour apart on its own timeline; running them one after another
  // on one simulated clock leaves more than the cooldown between two runs of one instance.
  for (int h = 0; h < hours; ++h) {
    const std::size_t before = sim->total();
    for (int i = 0; i < instances; ++i) {
      runner.run("default", "inst-" + std::to_string(i), policy, "schedule", true, nullptr);
      clock->advance(std::chrono::seconds(1));
    }
    result.per_hour.push_back(sim->total() - before);
  }
  for (const auto& k : kinds) result.by_kind[k] = sim->count(k);
  result.outcomes = reporter.outcomes;
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  const int instances = argc > 1 ? std::atoi(argv[1]) : 100;
  const int hours = argc > 2 ? std::atoi(argv[2]) : 4;
  const int job_seconds = argc > 3 ? std::atoi(argv[3]) : 300;
  if (instances <= 0 || hours <= 0 || job_seconds <= 0) {
    std::fprintf(stderr, "usage: %s [instances] [hours] [job_seconds]\n", argv[0]);
    return 2;
  }
  constexpr double k_budget_per_hour = 600.0 * 12;  // request_budget 600/5m
  constexpr double k_target = 0.10;
  bool ok = true;
  for (auto c :
       {manifest::SyncSpec::Concurrency::forbid, manifest::SyncSpec::Concurrency::replace}) {
    const char* name = c == manifest::SyncSpec::Concurrency::forbid ? "forbid" : "replace";
    const Result r = simulate(instances, hours, job_seconds, c, 0);
    std::printf("concurrency=%s instances=%d job_duration=%ds hours=%d\n", name, instances,
                job_seconds, hours);
    for (std::size_t h = 0; h < r.per_hour.size(); ++h) {
      std::printf("  hour %zu: %zu requests/hour = %.1f%% of the default budget (7200/hour)%s\n",
                  h + 1, r.per_hour[h],
                  100.0 * static_cast<double>(r.per_hour[h]) / k_budget_per_hour,
                  h == 0 ? "  (no duration history yet)" : "");
    }
    std::printf("  by kind:");
    for (const auto& [k, v] : r.by_kind) std::printf(" %s=%zu", k.c_str(), v);
    std::printf("\n  outcomes:");
    for (const auto& [k, v] : r.outcomes) std::printf(" %s=%d", k.c_str(), v);
    std::printf("\n");
    const double steady = static_cast<double>(r.per_hour.back());
    const bool pass = steady < k_target * k_budget_per_hour * instances / 100.0;
    std::printf("  steady state: %.0f requests/hour (%.1f%%), target < %.0f: %s\n", steady,
                100.0 * steady / k_budget_per_hour,
                k_target * k_budget_per_hour * instances / 100.0, pass ? "PASS" : "FAIL");
    ok = ok && pass;
  }
  // Informational: real jobs do not all last the same time.
  const int spread = job_seconds / 10;
  const Result v =
      simulate(instances, hours, job_seconds, manifest::SyncSpec::Concurrency::forbid, spread);
  std::printf(
      "informational: concurrency=forbid, durations %ds +/- %ds: last hour %zu requests/hour "
      "(%.1f%%)\n",
      job_seconds, spread, v.per_hour.back(),
      100.0 * static_cast<double>(v.per_hour.back()) / k_budget_per_hour);
  return ok ? 0 : 1;
}
