#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/poll.hpp"

namespace support {

// An `aisearchd run -c CONFIG` child process for integration tests: AISEARCHD_BIN (the
// environment variable wins over the build's path), stdout and stderr appended to `log`,
// CLOUDFLARE_API_TOKEN set to the emulator's token, NOTIFY_SOCKET, JOURNAL_STREAM and
// STATE_DIRECTORY unset, then `env` set (NOTIFY_SOCKET for a test's own socket, say). The
// destructor kills it (SIGKILL) and reaps it.
class DaemonProcess {
 public:
  DaemonProcess(const std::filesystem::path& config, std::filesystem::path log,
                const std::vector<std::string>& extra_args = {},
                const std::vector<std::pair<std::string, std::string>>& env = {});
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  // Waits for the log line "http listening on ... port=N" written by this process; false when
  // it exited first or `timeout` passed.
  bool wait_listening(std::chrono::milliseconds timeout);
  int port() const { return m_port; }
  pid_t pid() const { return m_pid; }
  // True until the process has exited.
  bool running();

  void signal(int signo);
  // SIGKILL, then reaps it.
  void kill9();
  // Waits for the exit: its status (128 + signal when killed), or -1 when `timeout` passed.
  int wait_exit(std::chrono::milliseconds timeout);

  // GET `path` on the daemon's HTTP port: the status (0 when unanswered) and body.
  int get(const std::string& path, std::string* body = nullptr) const;
  // /status as JSON; null when unanswered.
  nlohmann::json status() const;
  // The whole log so far (every process that used this log file).
  std::string log_text() const;

 private:
  std::filesystem::path m_log;
  std::size_t m_log_start = 0;  // this process's part of the log begins here
  pid_t m_pid = -1;
  int m_port = 0;
  int m_exit = -1;
};

}  // namespace support
