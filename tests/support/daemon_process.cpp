#include "support/daemon_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <httplib.h>

namespace support {

namespace {

std::string binary() {
  if (const char* env = std::getenv("AISEARCHD_BIN"); env && *env) return env;
  return AISEARCHD_BIN;
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

DaemonProcess::DaemonProcess(const std::filesystem::path& config, std::filesystem::path log,
                             const std::vector<std::string>& extra_args,
                             const std::vector<std::pair<std::string, std::string>>& env)
    : m_log(std::move(log)) {
  m_log_start = read_all(m_log).size();
  std::vector<std::string> args = {binary(), "run", "-c", config.string()};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  m_pid = ::fork();
  if (m_pid < 0) throw std::runtime_error("fork failed");
  if (m_pid == 0) {
    int fd = ::open(m_log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::setenv("CLOUDFLARE_API_TOKEN", "test-token", 1);
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("JOURNAL_STREAM");
    ::unsetenv("STATE_DIRECTORY");
    for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
}

DaemonProcess::~DaemonProcess() {
  if (m_pid > 0 && m_exit < 0) kill9();
}

bool DaemonProcess::wait_listening(std::chrono::milliseconds timeout) {
  return poll_until(
      [&] {
        if (!running()) return false;
        const auto text = read_all(m_log);
        if (text.size() <= m_log_start) return false;
        const auto at = text.find(" port=", m_log_start);
        if (at == std::string::npos) return false;
        m_port = std::atoi(text.c_str() + at + 6);
        return m_port > 0;
      },
      timeout);
}

bool DaemonProcess::running() {
  if (m_exit >= 0) return false;
  int status = 0;
  if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
    m_exit = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

void DaemonProcess::signal(int signo) {
  if (m_exit < 0) ::kill(m_pid, signo);
}

void DaemonProcess::kill9() {
  if (m_exit >= 0) return;
  ::kill(m_pid, SIGKILL);
  int status = 0;
  ::waitpid(m_pid, &status, 0);
  m_exit = 128 + SIGKILL;
}

int DaemonProcess::wait_exit(std::chrono::milliseconds timeout) {
  if (!poll_until([&] { return !running(); }, timeout)) return -1;
  return m_exit;
}

int DaemonProcess::get(const std::string& path, std::string* body) const {
  if (m_port <= 0) return 0;
  httplib::Client c("127.0.0.1", m_port);
  c.set_connection_timeout(1, 0);
  c.set_read_timeout(5, 0);
  auto r = c.Get(path);
  if (!r) return 0;
  if (body) *body = r->body;
  return r->status;
}

nlohmann::json DaemonProcess::status() const {
  std::string body;
  if (get("/status", &body) != 200) return nullptr;
  auto j = nlohmann::json::parse(body, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

std::string DaemonProcess::log_text() const {
  return read_all(m_log);
}

}  // namespace support
