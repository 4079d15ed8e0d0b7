// High availability (PRODUCT.md §11): two `aisearchd run` processes sharing a manifest, the
// emulator and a real etcd. Exactly one leads; kill -9, SIGSTOP and an etcd outage hand over
// without a duplicate write, and the emulator's request log (with each request's User-Agent,
// which names the node) proves who wrote what and when.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/daemon_process.hpp"
#include "support/emulator_process.hpp"
#include "support/etcd_process.hpp"
#include "support/test_dir.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using support::DaemonProcess;
using support::poll_until;
using Clock = std::chrono::steady_clock;

constexpr auto k_ttl = 3s;
// Deadlines for what the nodes do in their own time, generous for a busy machine (a test that
// passes never waits them out): a handover, which takes up to two TTLs on an idle machine;
// a start; anything else (a convergence, a role change).
constexpr auto k_handover = 4 * k_ttl + 10s;
constexpr auto k_start = 60s;
constexpr auto k_settle = 30s;

void write_atomically(const fs::path& p, const std::string& text) {
  auto tmp = p;
  tmp += ".tmp";
  std::ofstream(tmp, std::ios::trunc) << text;
  fs::rename(tmp, p);  // as git does
}

// `count` instances inst-0 .. inst-(count-1), each synced every minute.
std::string manifest_with(int count) {
  std::ostringstream m;
  m << "apiVersion: aisearchd/v1\nnamespaces:\n  default:\n    prune: true\n    instances:\n";
  for (int i = 0; i < count; ++i)
    m << "      inst-" << i << ": { type: r2, source: bucket-" << i
      << ", sync: { every: 1m, concurrency: forbid } }\n";
  return m.str();
}

bool is_write(const json& entry) {
  return entry.value("method", "") != "GET";
}

std::string node_of(const json& entry) {
  const auto ua = entry.value("user_agent", "");
  for (const char* n : {"node-a", "node-b"})
    if (ua.find(std::string("(") + n + ")") != std::string::npos) return n;
  return "";
}

class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = support::fresh_test_dir("aisearchd-ha");
    fs::create_directories(dir / "manifest");
    manifest = dir / "manifest" / "aisearch.yaml";
    write_atomically(manifest, manifest_with(2));
    for (const char* node : {"node-a", "node-b"}) {
      fs::create_directories(dir / node);
      std::ofstream(dir / node / "config.yaml")
          << "api_url: " << emu.base_url()
          << "\naccount_id: " << support::EmulatorProcess::k_account
          << "\nstate_dir: " << (dir / node).string() << "\nmanifest: " << manifest.string()
          << "\nreconcile_interval: 10s\nlisten: 127.0.0.1:0\nrequest_budget: 5000/1m\n"
          << "node_name: " << node << "\nstate_backend:\n  type: etcd\n  endpoints: ["
          << etcd.endpoint() << "]\n  prefix: /ha-test/\n  lease_ttl: 3s\n";
    }
  }
  void TearDown() override {
    nodes.clear();
    if (HasFailure()) {
      for (const char* node : {"node-a", "node-b"}) {
        std::ifstream in(dir / node / "daemon.log");
        std::cerr << "---- " << node << " log (tail):\n";
        std::string all((std::istreambuf_iterator<char>(in)), {});
        std::cerr << (all.size() > 6000 ? all.substr(all.size() - 6000) : all) << "\n";
      }
    } else {
      fs::remove_all(dir);
    }
  }

  DaemonProcess& start(const std::string& node) {
    nodes[node] =
        std::make_unique<DaemonProcess>(dir / node / "config.yaml", dir / node / "daemon.log");
    EXPECT_TRUE(nodes[node]->wait_listening(k_start)) << nodes[node]->log_text();
    return *nodes[node];
  }

  std::string role(const std::string& node) {
    auto it = nodes.find(node);
    if (it == nodes.end() || !it->second->running()) return "";
    auto s = it->second->status();
    return s.is_object() ? s.value("role", "") : "";
  }

  // The one node whose /status says leader while every other running node says standby; "".
  std::string sole_leader() {
    std::string leader;
    for (auto& [name, process] : nodes) {
      if (!process->running()) continue;
      const auto r = role(name);
      if (r == "leader") {
        if (!leader.empty()) return "";
        leader = name;
      } else if (r != "standby") {
        return "";
      }
    }
    return leader;
  }

  std::set<std::string> remote_ids() {
    std::set<std::string> ids;
    auto st = emu.control("GET", "state");
    for (const auto& i : st["instances"]) ids.insert(i.value("id", ""));
    return ids;
  }

  bool converged(int count) {
    auto ids = remote_ids();
    if (ids.size() != static_cast<std::size_t>(count)) return false;
    for (int i = 0; i < count; ++i)
      if (!ids.count("inst-" + std::to_string(i))) return false;
    return true;
  }

  support::EmulatorProcess emu;
  support::EtcdProcess etcd;
  fs::path dir, manifest;
  std::map<std::string, std::unique_ptr<DaemonProcess>> nodes;
};

TEST_F(FailoverTest, OneLeaderAndKillNineHandsOverWithoutDuplicateCreatesOrJobs) {
  emu.control("PUT", "config", {{"latency_ms", 40}, {"job_duration_ms", 500}});
  start("node-a");
  start("node-b");
  std::string leader;
  ASSERT_TRUE(poll_until([&] { return !(leader = sole_leader()).empty(); }, k_handover));
  // The standby names the leader (once it has read the leader key) and serves its own metrics.
  const std::string standby = leader == "node-a" ? "node-b" : "node-a";
  json s;
  EXPECT_TRUE(poll_until(
      [&] {
        s = nodes[standby]->status();
        return s.is_object() && s.contains("leader") && s["leader"] == leader;
      },
      k_settle))
      << s.dump();
  std::string metrics;
  ASSERT_EQ(nodes[standby]->get("/metrics", &metrics), 200);
  EXPECT_NE(metrics.find("aisearchd_leader 0"), std::string::npos);
  ASSERT_TRUE(poll_until([&] { return converged(2); }, k_settle));

  std::mt19937 rng(20261128);
  int count = 2;
  std::vector<double> failovers;
  for (int trial = 0; trial < 20; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    // New work for the leader, and a kill at a random moment of it.
    count += 4;
    write_atomically(manifest, manifest_with(count));
    std::this_thread::sleep_for(std::chrono::milliseconds(
        std::uniform_int_distribution<int>(0, 400)(rng)));  // the random kill moment
    nodes[leader]->kill9();
    const auto killed = Clock::now();
    const std::string next = leader == "node-a" ? "node-b" : "node-a";
    // How long the handover took is a figure (printed below), not a pass condition.
    ASSERT_TRUE(poll_until([&] { return role(next) == "leader"; }, k_handover));
    const auto took = Clock::now() - killed;
    failovers.push_back(std::chrono::duration<double>(took).count());
    // The new leader converges; the old one comes back as a standby.
    ASSERT_TRUE(poll_until([&] { return converged(count); }, k_settle)) << remote_ids().size();
    start(leader);
    ASSERT_TRUE(poll_until([&] { return sole_leader() == next; }, k_handover));
    leader = next;
  }

  // Every instance was created exactly once and nothing was deleted.
  auto log = emu.control("GET", "requests");
  int creates = 0, deletes = 0, unnamed_writes = 0;
  const std::string create_path = std::string("/client/v4/accounts/") +
                                  support::EmulatorProcess::k_account +
                                  "/ai-search/namespaces/default/instances";
  for (const auto& e : log) {
    if (!is_write(e)) continue;
    if (node_of(e).empty()) ++unnamed_writes;
    if (e["method"] == "POST" && e["path"] == create_path && support::logged_status(e) / 100 == 2)
      ++creates;
    if (e["method"] == "DELETE") ++deletes;
  }
  EXPECT_EQ(creates, count);
  EXPECT_EQ(deletes, 0);
  EXPECT_EQ(unnamed_writes, 0);

  // No schedule slot got two jobs: each job names its slot. A slot is taken at most once, so
  // one claimed by a leader killed before it triggered the job is skipped; if every slot of the
  // run went that way, wait for the stable leader's next one (slots are whole minutes).
  int slot_jobs = 0;
  auto count_slot_jobs = [&] {
    auto st = emu.control("GET", "state");
    slot_jobs = 0;
    for (const auto& inst : st["instances"]) {
      std::set<std::string> slots;
      for (const auto& job : inst["jobs"]) {
        const auto& view = job.contains("view") ? job["view"] : job;
        const std::string desc = view.value("description", "");
        const auto at = desc.find(" slot ");
        if (at == std::string::npos) continue;
        ++slot_jobs;
        EXPECT_TRUE(slots.insert(desc.substr(at + 6)).second)
            << inst.value("id", "") << " ran slot " << desc.substr(at + 6) << " twice";
      }
    }
    return slot_jobs > 0;
  };
  EXPECT_TRUE(poll_until(count_slot_jobs, 150s))
      << "no scheduled job ran";  // the schedules run across the failovers

  // No state lost: the last leader's state owns every instance.
  auto status = nodes[leader]->status();
  ASSERT_TRUE(status.is_object());
  int owned = 0;
  for (const auto& i : status["instances"])
    if (i.value("owned", false)) ++owned;
  EXPECT_EQ(owned, count);

  std::sort(failovers.begin(), failovers.end());
  std::cerr << "failover over " << failovers.size() << " trials: p50 " << failovers[10]
            << " s, max " << failovers.back() << " s (lease ttl " << k_ttl.count() << " s)\n";
}

TEST_F(FailoverTest, APausedLeaderWritesNothingOnceTheStandbyTookOver) {
  emu.control("PUT", "config", {{"latency_ms", 150}});
  start("node-a");
  ASSERT_TRUE(poll_until([&] { return role("node-a") == "leader"; }, k_handover));
  start("node-b");
  ASSERT_TRUE(poll_until([&] { return sole_leader() == "node-a"; }, k_handover));
  ASSERT_TRUE(poll_until([&] { return converged(2); }, k_settle));

  // Pause the leader in the middle of an apply of 30 creates.
  write_atomically(manifest, manifest_with(32));
  ASSERT_TRUE(poll_until(
      [&] {
        int a_creates = 0;
        for (const auto& e : emu.control("GET", "requests"))
          if (is_write(e) && node_of(e) == "node-a" && e["method"] == "POST") ++a_creates;
        return a_creates >= 5;
      },
      k_settle));
  nodes["node-a"]->signal(SIGSTOP);
  ASSERT_TRUE(poll_until([&] { return role("node-b") == "leader"; }, k_handover));
  ASSERT_TRUE(poll_until([&] { return converged(32); }, 2 * k_settle));

  // Wake it: it must notice it lost the lease before writing anything.
  nodes["node-a"]->signal(SIGCONT);
  ASSERT_TRUE(poll_until([&] { return role("node-a") == "standby"; }, k_handover));
  write_atomically(manifest, manifest_with(36));
  ASSERT_TRUE(poll_until([&] { return converged(36); }, k_settle));

  long long first_b_write = -1, last_a_write = -1;
  for (const auto& e : emu.control("GET", "requests")) {
    if (!is_write(e)) continue;
    const long long t = e["time_ms"].get<long long>();
    if (node_of(e) == "node-b" && first_b_write < 0) first_b_write = t;
    if (node_of(e) == "node-a") last_a_write = std::max(last_a_write, t);
  }
  ASSERT_GE(first_b_write, 0);
  ASSERT_GE(last_a_write, 0);
  EXPECT_LT(last_a_write, first_b_write) << "node-a wrote after node-b took over";
  EXPECT_NE(nodes["node-a"]->log_text().find("leadership lost"), std::string::npos);
  EXPECT_TRUE(nodes["node-a"]->running());
}

TEST_F(FailoverTest, EtcdDownMeansNoWritesAndNotReadyThenWorkResumes) {
  start("node-a");
  ASSERT_TRUE(poll_until([&] { return role("node-a") == "leader"; }, k_handover));
  ASSERT_TRUE(poll_until([&] { return converged(2); }, k_settle));
  auto& a = *nodes["node-a"];
  ASSERT_TRUE(poll_until([&] { return a.get("/readyz") == 200; }, k_settle));

  etcd.stop();
  const std::size_t seen = emu.control("GET", "requests").size();
  // It stops leading (within one TTL on its own clock; the deadline allows for a busy machine);
  // /readyz says why; /metrics serves.
  ASSERT_TRUE(poll_until([&] { return role("node-a") == "standby"; }, k_handover)) << a.log_text();
  std::string body;
  ASSERT_TRUE(poll_until([&] { return a.get("/readyz", &body) == 503; }, k_settle)) << a.log_text();
  EXPECT_NE(body.find("etcd unreachable"), std::string::npos) << body;
  // (Polled: one scrape may time out on a machine busy enough; what it must say is asserted.)
  std::string metrics;
  EXPECT_TRUE(poll_until(
      [&] {
        return a.get("/metrics", &metrics) == 200 &&
               metrics.find("aisearchd_etcd_reachable 0") != std::string::npos &&
               metrics.find("aisearchd_leader 0") != std::string::npos;
      },
      k_settle))
      << metrics << "\n"
      << a.log_text();

  // A manifest edit while etcd is down is planned, not applied.
  write_atomically(manifest, manifest_with(3));
  ASSERT_TRUE(poll_until(
      [&] { return a.log_text().find("address=default/inst-2") != std::string::npos; }, k_settle))
      << a.log_text();
  auto log = emu.control("GET", "requests");
  for (std::size_t i = seen; i < log.size(); ++i) EXPECT_FALSE(is_write(log[i])) << log[i].dump();
  EXPECT_FALSE(converged(3));

  etcd.start();
  ASSERT_TRUE(poll_until([&] { return role("node-a") == "leader"; }, k_handover)) << a.log_text();
  ASSERT_TRUE(poll_until([&] { return converged(3); }, k_settle)) << a.log_text();
  EXPECT_TRUE(poll_until([&] { return a.get("/readyz") == 200; }, k_settle)) << a.log_text();
  EXPECT_TRUE(a.running());
}

}  // namespace
