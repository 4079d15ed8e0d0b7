#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "config.hpp"
#include "util/result.hpp"

namespace emulator {

// The emulator's HTTP server: the AI Search API under /client/v4 (auth, global rate limit,
// injected latency and faults, request log) and the control API under /__emulator/.
// httplib stays inside server.cpp.
class Server {
 public:
  // `state_file`, when set, is loaded by load_state() and written by save_state().
  Server(Config config, std::optional<std::filesystem::path> state_file);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads the state file if it exists. Fails on an unreadable or malformed file.
  util::Result<void, std::string> load_state();
  // Writes the state file atomically (no-op without one).
  util::Result<void, std::string> save_state();

  // Binds `host`:`port` (0 = any free port). Returns the bound port or a message.
  util::Result<int, std::string> bind(const std::string& host, int port);
  // Serves until stop() (blocks the calling thread).
  void run();
  // Stops serving; wakes requests held by latency or "timeout" faults. Safe from any thread.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
};

}  // namespace emulator
