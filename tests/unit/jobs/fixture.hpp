#pragma once

// Shared set-up of the jobs unit tests: a FakeClock, the simulated jobs API, a client on it, an
// in-memory state store and a recording reporter.

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "api/client.hpp"
#include "jobs/reporter.hpp"
#include "jobs/runner.hpp"
#include "state/writer.hpp"
#include "util/clock.hpp"

#include "sim_api.hpp"

namespace jobs_test {

class MemoryStore final : public state::StateStore {
 public:
  util::Result<state::State, std::string> load() override {
    std::lock_guard lock(m_mutex);
    return m_state;
  }
  util::Result<void, std::string> save(const state::State& s) override {
    std::lock_guard lock(m_mutex);
    if (refuse) return util::Err(std::string("store refuses saves"));
    m_state = s;
    ++m_saves;
    return {};
  }
  std::string describe() const override { return "memory"; }
  // Every save fails while set (a full disk, a node that lost its etcd leadership).
  void set_refuse(bool r) {
    std::lock_guard lock(m_mutex);
    refuse = r;
  }
  state::State saved() const {
    std::lock_guard lock(m_mutex);
    return m_state;
  }

 private:
  mutable std::mutex m_mutex;
  state::State m_state;
  int m_saves = 0;
  bool refuse = false;
};

class RecordingReporter final : public jobs::Reporter {
 public:
  void outcome(const std::string& address, const state::JobRecord& record) override {
    std::lock_guard lock(m_mutex);
    outcomes.emplace_back(address, record);
  }
  void stalled(const std::string& address, const std::string& job_id) override {
    std::lock_guard lock(m_mutex);
    stalls.emplace_back(address, job_id);
  }
  void paused(const std::string& address) override {
    std::lock_guard lock(m_mutex);
    pauses.push_back(address);
  }
  std::size_t outcome_count() const {
    std::lock_guard lock(m_mutex);
    return outcomes.size();
  }
  std::vector<std::pair<std::string, state::JobRecord>> outcomes_copy() const {
    std::lock_guard lock(m_mutex);
    return outcomes;
  }

  mutable std::mutex m_mutex;
  std::vector<std::pair<std::string, state::JobRecord>> outcomes;
  std::vector<std::pair<std::string, std::string>> stalls;
  std::vector<std::string> pauses;
};

inline util::Clock::SystemTime t0() {
  return util::Clock::SystemTime(std::chrono::seconds(1'800'000'000));  // 2027-01-15
}

struct Harness {
  explicit Harness(jobs::FollowOptions options = {}, api::ClientConfig config = make_config())
      : clock(std::make_shared<util::FakeClock>(t0())),
        sim(std::make_shared<SimApi>(*clock)),
        client(config, sim, clock),
        writer(store, state::State{}),
        runner(client, *clock, writer, reporter, options) {}

  static api::ClientConfig make_config() {
    api::ClientConfig c;
    c.api_url = k_sim_url;
    c.account_id = "acc";
    c.token = "test-token";
    c.budget.capacity = 0;  // unlimited
    c.retry.max_attempts = 1;
    return c;
  }

  const state::SyncState* sync(const std::string& address) {
    m_snapshot = writer.snapshot();
    auto it = m_snapshot.sync.find(address);
    return it == m_snapshot.sync.end() ? nullptr : &it->second;
  }

  std::shared_ptr<util::FakeClock> clock;
  std::shared_ptr<SimApi> sim;
  api::Client client;
  MemoryStore store;
  state::StateWriter writer;
  RecordingReporter reporter;
  jobs::Runner runner;
  state::State m_snapshot;
};

inline manifest::SyncSpec policy(
    manifest::SyncSpec::Concurrency c = manifest::SyncSpec::Concurrency::forbid) {
  manifest::SyncSpec s;
  s.every = std::chrono::hours(1);
  s.concurrency = c;
  return s;
}

}  // namespace jobs_test
