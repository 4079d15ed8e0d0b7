#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "state/state.hpp"

namespace state {

// state_dir/state.json, replaced atomically on every save.
class FileStateStore final : public StateStore {
 public:
  explicit FileStateStore(std::filesystem::path state_dir);
  util::Result<State, std::string> load() override;
  util::Result<void, std::string> save(const State& state) override;
  std::string describe() const override;
  const std::filesystem::path& path() const { return m_path; }

 private:
  std::filesystem::path m_dir;
  std::filesystem::path m_path;
};

// An exclusive lock on state_dir/lock (flock), held while the object lives, so two aisearchd
// processes never apply to the same state at once.
class StateLock {
 public:
  // Fails with a message naming the holder's pid when another process holds the lock.
  static util::Result<std::unique_ptr<StateLock>, std::string> acquire(
      const std::filesystem::path& state_dir);
  ~StateLock();
  StateLock(const StateLock&) = delete;
  StateLock& operator=(const StateLock&) = delete;

 private:
  explicit StateLock(int fd) : m_fd(fd) {}
  int m_fd;
};

}  // namespace state
