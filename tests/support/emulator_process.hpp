#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace support {

// A running `aisearch-emulator` child process for integration tests.
//
// Starts EMULATOR_BIN (the environment variable of that name wins over the build's path) on
// 127.0.0.1 --port 0 with --token test-token --account-id test-account plus `extra_args`, and
// waits for its "listening on http://HOST:PORT" line (60 s deadline, for a busy machine; throws
// std::runtime_error when the process cannot start, exits early or says nothing in time). The
// destructor stops it: SIGTERM, then SIGKILL after 30 s.
// The HTTP status of one entry of the emulator's request log: 0 while the request is still held
// (a "timeout" fault or latency: the log takes an entry when the request arrives and its status
// only when the answer is decided) and for a "reset" fault.
int logged_status(const nlohmann::json& entry);

class EmulatorProcess {
 public:
  explicit EmulatorProcess(std::vector<std::string> extra_args = {});
  ~EmulatorProcess();
  EmulatorProcess(const EmulatorProcess&) = delete;
  EmulatorProcess& operator=(const EmulatorProcess&) = delete;

  int port() const;
  std::string base_url() const;  // "http://127.0.0.1:PORT/client/v4"
  std::string root_url() const;  // "http://127.0.0.1:PORT"
  static constexpr const char* k_token = "test-token";
  static constexpr const char* k_account = "test-account";

  // Calls the control API under /__emulator/: control("GET", "requests"),
  // control("PUT", "config", {...}). Returns the parsed JSON answer (null for an empty body).
  // Throws std::runtime_error on a transport failure or a status >= 400.
  nlohmann::json control(const std::string& method, const std::string& path,
                         const nlohmann::json& body = nullptr) const;

  pid_t pid() const;

  // Stops the process now (SIGTERM, SIGKILL after 30 s) and returns its exit status as
  // waitpid reports it; later calls return the same. The destructor then does nothing.
  int stop();

 private:
  pid_t m_pid = -1;
  int m_port = 0;
  int m_status = 0;
  bool m_stopped = false;
};

}  // namespace support
