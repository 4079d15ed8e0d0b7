// `aisearchd run` as a process against the emulator: systemd notifications, reloads, readiness,
// metrics, shutdown.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "support/daemon_process.hpp"
#include "support/emulator_process.hpp"
#include "support/ports.hpp"
#include "support/test_dir.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using support::EmulatorProcess;
using support::poll_until;
using Clock = std::chrono::steady_clock;

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::trunc) << text;
}

// Deadlines for what the daemon does in its own time: generous, for a busy machine; a test
// that passes never waits them out.
constexpr auto k_start = 60s;
constexpr auto k_react = 30s;

// A datagram socket standing in for systemd's NOTIFY_SOCKET; collects every message.
class NotifySocket {
 public:
  explicit NotifySocket(const fs::path& path) : m_path(path) {
    m_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    if (m_fd < 0 || ::bind(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      throw std::runtime_error("cannot bind the notify socket");
    m_thread = std::thread([this] { run(); });
  }
  ~NotifySocket() {
    m_stop = true;
    m_thread.join();
    ::close(m_fd);
  }
  std::vector<std::string> messages() const {
    std::lock_guard lock(m_mutex);
    return m_messages;
  }
  // Index of the first message at or after `from` that has the line `line`, or -1.
  int find(const std::string& line, std::size_t from = 0) const {
    auto all = messages();
    for (std::size_t i = from; i < all.size(); ++i) {
      std::istringstream in(all[i]);
      std::string l;
      while (std::getline(in, l))
        if (l == line) return static_cast<int>(i);
    }
    return -1;
  }
  int wait_for(const std::string& line, std::size_t from, std::chrono::milliseconds timeout) const {
    int at = -1;
    poll_until([&] { return (at = find(line, from)) >= 0; }, timeout);
    return at;
  }

 private:
  void run() {
    while (!m_stop) {
      pollfd p{m_fd, POLLIN, 0};
      if (::poll(&p, 1, 50) != 1) continue;
      char buf[4096];
      auto n = ::recv(m_fd, buf, sizeof buf, 0);
      if (n <= 0) continue;
      std::lock_guard lock(m_mutex);
      m_messages.emplace_back(buf, static_cast<std::size_t>(n));
    }
  }
  fs::path m_path;
  int m_fd = -1;
  std::atomic<bool> m_stop{false};
  mutable std::mutex m_mutex;
  std::vector<std::string> m_messages;
  std::thread m_thread;
};

struct HttpAnswer {
  int status = 0;
  std::string body;
};

HttpAnswer get(int port, const std::string& path) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(2, 0);
  c.set_read_timeout(10, 0);
  auto r = c.Get(path);
  if (!r) return {};
  return {r->status, r->body};
}

const char* k_manifest = R"(apiVersion: aisearchd/v1
namespaces:
  default:
    prune: true
    instances:
      docs:
        type: r2
        source: docs-bucket
        max_num_results: 5
)";

std::string with_instance(const std::string& id) {
  return std::string(k_manifest) + "      " + id + ":\n        type: r2\n        source: " + id +
         "-bucket\n";
}

class DaemonProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = support::fresh_test_dir("aisearchd-run");
    fs::create_directories(dir / "manifest");
    fs::create_directories(dir / "state");
    manifest = dir / "manifest" / "aisearch.yaml";
    write_file(manifest, k_manifest);
    notify = std::make_unique<NotifySocket>(dir / "notify.sock");
  }
  void TearDown() override {
    daemon.reset();
    notify.reset();
    if (!HasFailure())
      fs::remove_all(dir);
    else
      std::cerr << "daemon log:\n" << read_file(dir / "daemon.log") << "\n";
  }

  // Starts the daemon against `api_url` (the emulator's when empty).
  void start(std::vector<std::string> extra = {}, std::string api_url = "") {
    if (api_url.empty()) api_url = emu.base_url();
    write_file(dir / "config.yaml",
               "api_url: " + api_url + "\naccount_id: " + EmulatorProcess::k_account +
                   "\nstate_dir: " + (dir / "state").string() + "\nmanifest: " + manifest.string() +
                   "\nreconcile_interval: " + interval + "\nlisten: 127.0.0.1:0\n" +
                   "request_budget: 1000/1m\n");
    daemon = std::make_unique<support::DaemonProcess>(
        dir / "config.yaml", dir / "daemon.log", extra,
        std::vector<std::pair<std::string, std::string>>{
            {"NOTIFY_SOCKET", (dir / "notify.sock").string()}});
    ASSERT_TRUE(daemon->wait_listening(k_start)) << read_file(dir / "daemon.log");
    port = daemon->port();
    pid = daemon->pid();
  }

  // Waits for the process to exit; its exit status, or -1 on timeout.
  int wait_exit(std::chrono::milliseconds timeout) { return daemon->wait_exit(timeout); }

  json instance(const std::string& id) {
    httplib::Client c("127.0.0.1", emu.port());
    auto r = c.Get(std::string("/client/v4/accounts/") + EmulatorProcess::k_account +
                       "/ai-search/namespaces/default/instances/" + id,
                   {{"Authorization", std::string("Bearer ") + EmulatorProcess::k_token}});
    if (!r || r->status != 200) return nullptr;
    return json::parse(r->body, nullptr, false)["result"];
  }

  EmulatorProcess emu;
  std::string interval = "10s";  // reconcile_interval
  fs::path dir, manifest;
  std::unique_ptr<NotifySocket> notify;
  std::unique_ptr<support::DaemonProcess> daemon;
  pid_t pid = -1;
  int port = 0;
};

TEST_F(DaemonProcessTest, ReadyAfterFirstReconcileReloadOnSighupAndCleanStop) {
  start();
  ASSERT_GE(notify->wait_for("READY=1", 0, k_start), 0) << read_file(dir / "daemon.log");
  // READY=1 comes after the first reconcile: the instance exists by then.
  EXPECT_FALSE(instance("docs").is_null());
  // The STATUS line may travel in its own datagram: wait for it.
  EXPECT_TRUE(poll_until(
      [&] {
        for (const auto& msg : notify->messages())
          if (msg.rfind("STATUS=apply: 1 instance(s); reconcile ok", 0) == 0) return true;
        return false;
      },
      k_react));
  auto ready_at = static_cast<std::size_t>(notify->find("READY=1"));

  ::kill(pid, SIGHUP);
  int reloading = notify->wait_for("RELOADING=1", ready_at + 1, k_react);
  ASSERT_GE(reloading, 0);
  EXPECT_GE(notify->wait_for("READY=1", static_cast<std::size_t>(reloading) + 1, k_react), 0);

  auto r = get(port, "/readyz");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(get(port, "/healthz").status, 200);
  auto status = json::parse(get(port, "/status").body);
  EXPECT_EQ(status["role"], "leader");
  ASSERT_EQ(status["instances"].size(), 1u);
  EXPECT_EQ(status["instances"][0]["owned"], true);

  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(k_react), 0);  // -1: still running after the deadline
  auto state = json::parse(read_file(dir / "state" / "state.json"));
  EXPECT_TRUE(state["owned"].contains("default/docs")) << state.dump();
  EXPECT_GE(notify->find("STOPPING=1"), 0);
}

TEST_F(DaemonProcessTest, ManifestEditsInPlaceAndByRenameApplyWithoutWaitingForTheInterval) {
  // An edit is applied when the watcher sees it: with an hour between reconciles, nothing else
  // would apply it within the deadline. How soon is a figure (printed), not a pass condition.
  interval = "1h";
  start();
  ASSERT_GE(notify->wait_for("READY=1", 0, k_start), 0);
  ASSERT_FALSE(instance("docs").is_null());

  write_file(manifest, with_instance("kb"));  // in place
  auto t0 = Clock::now();
  ASSERT_TRUE(poll_until([&] { return !instance("kb").is_null(); }, k_react))
      << read_file(dir / "daemon.log");
  std::cerr << "in-place edit applied after "
            << std::chrono::duration<double>(Clock::now() - t0).count() << " s\n";

  auto tmp = dir / "manifest" / ".aisearch.yaml.tmp";
  write_file(tmp, with_instance("wiki"));  // kb leaves, wiki comes: as git does
  t0 = Clock::now();
  fs::rename(tmp, manifest);
  ASSERT_TRUE(poll_until([&] { return !instance("wiki").is_null(); }, k_react))
      << read_file(dir / "daemon.log");
  std::cerr << "renamed edit applied after "
            << std::chrono::duration<double>(Clock::now() - t0).count() << " s\n";
  EXPECT_TRUE(poll_until([&] { return instance("kb").is_null(); }, k_react));  // pruned (owned)
}

TEST_F(DaemonProcessTest, InvalidEditKeepsLastGoodManifestAndFlipsReadyz) {
  interval = "1h";  // only the watcher notices the edits within the deadlines
  start();
  ASSERT_GE(notify->wait_for("READY=1", 0, k_start), 0);
  ASSERT_TRUE(poll_until([&] { return get(port, "/readyz").status == 200; }, k_react));

  write_file(manifest, std::string(k_manifest) + "        chunk_sise: 512\n");
  ASSERT_TRUE(poll_until([&] { return get(port, "/readyz").status == 503; }, k_react));
  auto r = get(port, "/readyz");
  EXPECT_NE(r.body.find("aisearch.yaml:10:9: unknown key \"chunk_sise\""), std::string::npos)
      << r.body;
  EXPECT_NE(get(port, "/metrics").body.find("aisearchd_manifest_valid 0"), std::string::npos);
  EXPECT_NE(read_file(dir / "daemon.log").find("aisearch.yaml:10:9"), std::string::npos);
  // The last good manifest stays in force: docs is still managed, not pruned.
  EXPECT_FALSE(instance("docs").is_null());

  write_file(manifest, with_instance("kb"));
  ASSERT_TRUE(poll_until([&] { return get(port, "/readyz").status == 200; }, k_react));
  EXPECT_TRUE(poll_until([&] { return !instance("kb").is_null(); }, k_react));
}

TEST_F(DaemonProcessTest, MetricsPassPromtool) {
  start();
  ASSERT_GE(notify->wait_for("READY=1", 0, k_start), 0);
  auto m = get(port, "/metrics");
  ASSERT_EQ(m.status, 200);
  for (const char* name :
       {"aisearchd_reconciles_total", "aisearchd_actions_total", "aisearchd_api_requests_total",
        "aisearchd_api_retries_total", "aisearchd_api_budget_tokens", "aisearchd_manifest_valid",
        "aisearchd_last_successful_reconcile_timestamp_seconds", "aisearchd_sync_outcomes_total",
        "aisearchd_reconcile_duration_seconds", "process_resident_memory_bytes"})
    EXPECT_NE(m.body.find(std::string("# TYPE ") + name + " "), std::string::npos) << name;
  std::istringstream lines(m.body);
  std::string line;
  while (std::getline(lines, line))
    if (!line.empty() && line[0] != '#') {
      EXPECT_TRUE(line.rfind("aisearchd_", 0) == 0 || line.rfind("process_", 0) == 0) << line;
    }
  write_file(dir / "metrics.txt", m.body);
  int rc = std::system(("promtool check metrics < " + (dir / "metrics.txt").string() + " > " +
                        (dir / "promtool.txt").string() + " 2>&1")
                           .c_str());
  EXPECT_EQ(rc, 0) << read_file(dir / "promtool.txt") << m.body;
  EXPECT_EQ(m.body.find(EmulatorProcess::k_token), std::string::npos);
}

TEST_F(DaemonProcessTest, DryRunObservesWithoutWriting) {
  start({"--dry-run"});
  ASSERT_GE(notify->wait_for("READY=1", 0, k_start), 0);
  EXPECT_TRUE(instance("docs").is_null());
  EXPECT_NE(read_file(dir / "daemon.log").find("plan action=create address=default/docs"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(dir / "state" / "state.json"));
  ::kill(pid, SIGINT);
  EXPECT_EQ(wait_exit(k_react), 0);
}

TEST_F(DaemonProcessTest, ApiDownIsRetriedAndTheProcessKeepsRunning) {
  // Nothing listens on the API port: one held bound and never listened on (a stopped
  // emulator's port could be taken by another test's server meanwhile).
  support::RefusingPort nobody;
  start({}, nobody.url() + "/client/v4");
  ASSERT_GE(notify->wait_for("READY=1", 0, k_start), 0) << read_file(dir / "daemon.log");
  auto r = get(port, "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("API unreachable"), std::string::npos) << r.body;
  EXPECT_TRUE(daemon->running());
  // At least the first reconcile failed; how many more did by now depends on the machine.
  const std::string metrics = get(port, "/metrics").body;
  const std::string failures = "aisearchd_reconciles_total{result=\"failure\"} ";
  const auto at = metrics.find(failures);
  ASSERT_NE(at, std::string::npos) << metrics;
  EXPECT_GE(std::atoi(metrics.c_str() + at + failures.size()), 1) << metrics;
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_exit(k_react), 0);
}

}  // namespace
