// The etcd state backend and leader election against a real etcd (support::EtcdProcess).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "state/backend.hpp"
#include "state/etcd_store.hpp"
#include "state/leader.hpp"
#include "support/etcd_process.hpp"
#include "support/poll.hpp"
#include "util/clock.hpp"

namespace {

using namespace std::chrono_literals;

std::shared_ptr<state::EtcdClient> client_for(const support::EtcdProcess& etcd,
                                              const std::string& prefix = "/it/") {
  state::BackendConfig b;
  b.type = state::BackendConfig::Type::etcd;
  b.endpoints = {etcd.endpoint()};
  b.prefix = prefix;
  auto c = state::make_etcd_client(b);
  EXPECT_TRUE(c.ok());
  return *c;
}

state::State sample_state(const std::string& id) {
  state::State s;
  s.owned["default/" + id] = state::OwnedInstance{
      "default", id, false, "2024-05-01T10:00:00Z", {{"api_key", "sha256:abc"}}, {}};
  s.sync["default/" + id].last_job_id = "job-1";
  return s;
}

// What etcd and the electors do in their own time; the deadline is for a busy machine (a lease
// of 3 s ends within a few seconds on an idle one).
template <typename Pred>
bool wait_for(Pred pred) {
  return support::poll_until(pred, 20s, 50ms);
}

TEST(EtcdStore, SavesAndLoadsAndNeverLosesAConcurrentUpdate) {
  support::EtcdProcess etcd;
  auto client = client_for(etcd);
  state::EtcdStateStore a(client), b(client);
  auto empty = a.load();
  ASSERT_TRUE(empty.ok()) << empty.error();
  EXPECT_TRUE(empty->owned.empty());
  ASSERT_TRUE(b.load().ok());

  ASSERT_TRUE(a.save(sample_state("kb")).ok());
  // b read before a wrote: its write would lose a's update, so etcd refuses it.
  auto lost = b.save(sample_state("other"));
  ASSERT_FALSE(lost.ok());
  EXPECT_NE(lost.error().find("changed since it was read"), std::string::npos) << lost.error();

  auto seen = b.load();
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->to_json(), sample_state("kb").to_json());
  state::State merged = *seen;
  merged.owned["default/other"] = sample_state("other").owned["default/other"];
  ASSERT_TRUE(b.save(merged).ok());
  auto final_state = state::EtcdStateStore(client).load();
  ASSERT_TRUE(final_state.ok());
  EXPECT_EQ(final_state->owned.size(), 2u);
}

TEST(EtcdElection, ExactlyOneLeaderAndTheStandbyTakesOverWhenTheLeaseEnds) {
  support::EtcdProcess etcd;
  util::SystemClock clock;
  state::LeaderOptions la{"node-a", 3s}, lb{"node-b", 3s};
  auto a = std::make_unique<state::LeaderElector>(client_for(etcd), la, clock);
  state::LeaderElector b(client_for(etcd), lb, clock);
  auto ra = a->step();
  auto rb = b.step();
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_TRUE(*ra);
  EXPECT_FALSE(*rb);
  EXPECT_EQ(b.leader_name(), "node-a");

  // The leader's fenced write works; the standby's is refused without a request.
  auto client = client_for(etcd);
  state::EtcdStateStore leader_store(client, [&a] { return a->fence(); });
  state::EtcdStateStore standby_store(client, [&b] { return b.fence(); });
  ASSERT_TRUE(leader_store.load().ok());
  ASSERT_TRUE(standby_store.load().ok());
  ASSERT_TRUE(leader_store.save(sample_state("kb")).ok());
  EXPECT_FALSE(standby_store.save(sample_state("x")).ok());

  // node-a shuts down (resigns on destruction): node-b leads at its next round.
  const auto lost_at = std::chrono::steady_clock::now();
  b.start();
  a.reset();
  EXPECT_TRUE(wait_for([&] { return b.is_leader(); }));
  std::cerr << "node-b led "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - lost_at).count()
            << " s after node-a resigned (ttl 3 s)\n";
  b.stop();
}

TEST(EtcdElection, ALeaderThatCannotRenewStopsWithinOneTtlAndItsWritesAreFenced) {
  support::EtcdProcess etcd;
  util::SystemClock clock;
  state::LeaderOptions la{"node-a", 3s}, lb{"node-b", 3s};
  state::LeaderElector a(client_for(etcd), la, clock);
  auto ra = a.step();
  ASSERT_TRUE(ra.ok() && *ra);
  auto client = client_for(etcd);
  state::EtcdStateStore store(client, [&a] { return a.fence(); });
  ASSERT_TRUE(store.load().ok());

  // No renewal (a paused process): not leader after one TTL on its own clock.
  EXPECT_TRUE(wait_for([&] { return !a.is_leader(); }));
  EXPECT_FALSE(store.save(sample_state("late")).ok());
  // Another node leads after the lease expired in etcd.
  state::LeaderElector b(client_for(etcd), lb, clock);
  EXPECT_TRUE(wait_for([&] { return b.step().value_or(false); }));
  // Renewal of the old lease fails: a stays a standby and names the new leader.
  (void)a.step();
  EXPECT_FALSE(a.is_leader());
  (void)a.step();
  EXPECT_EQ(a.leader_name(), "node-b");
}

TEST(EtcdStore, EtcdDownMeansErrorsNotCrashesAndWorkResumesAfterRestart) {
  support::EtcdProcess etcd;
  auto client = client_for(etcd);
  state::EtcdStateStore store(client);
  ASSERT_TRUE(store.load().ok());
  ASSERT_TRUE(store.save(sample_state("kb")).ok());
  etcd.stop();
  EXPECT_FALSE(store.save(sample_state("down")).ok());
  EXPECT_FALSE(store.load().ok());
  etcd.start();
  auto back = store.load();
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->to_json(), sample_state("kb").to_json());
  EXPECT_TRUE(store.save(sample_state("after")).ok());
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(EtcdMigrate, RoundTripsFileToEtcdToFileWithIdenticalContent) {
  support::EtcdProcess etcd;
  std::random_device rd;
  auto dir = std::filesystem::temp_directory_path() / ("aisearchd-migrate-" + std::to_string(rd()));
  std::filesystem::create_directories(dir / "state");
  {
    std::ofstream cfg(dir / "config.yaml");
    cfg << "state_dir: " << (dir / "state").string() << "\nstate_backend:\n  type: etcd\n"
        << "  endpoints: [" << etcd.endpoint() << "]\n  prefix: /mig/\nnode_name: test-node\n";
    std::ofstream st(dir / "state" / "state.json");
    st << sample_state("kb").to_json().dump(2) << "\n";
  }
  const std::string before = slurp(dir / "state" / "state.json");
  const std::string cli = std::string(AISEARCHD_BIN) + " -c " + (dir / "config.yaml").string();
  ASSERT_EQ(std::system((cli + " state migrate --to etcd > /dev/null").c_str()), 0);
  std::filesystem::remove(dir / "state" / "state.json");
  auto in_etcd = state::EtcdStateStore(client_for(etcd, "/mig/")).load();
  ASSERT_TRUE(in_etcd.ok());
  EXPECT_EQ(in_etcd->to_json(), sample_state("kb").to_json());
  ASSERT_EQ(std::system((cli + " state migrate --to file > /dev/null").c_str()), 0);
  EXPECT_EQ(slurp(dir / "state" / "state.json"), before);
  std::filesystem::remove_all(dir);
}

}  // namespace
