#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "state/state.hpp"

namespace state {

// Checks that `dir` is a directory of this user (any user's for root) that no one else may write
// to, creating it 0700 when missing and `create` (else a missing one is fine); the directory
// itself may be reached through a symbolic link. Fails with a message saying what to change.
util::Result<void, std::string> prepare_state_dir(const std::filesystem::path& dir,
                                                  bool create = true);

// Replaces `path` atomically: a temporary file from mkostemp beside it (mode 0600, created
// exclusively, so never through a planted link), fsync, rename over `path`, fsync of the
// directory. A crash at any moment leaves the old or the new content, and at worst a temporary
// file that remove_stale_temps deletes.
util::Result<void, std::string> write_state_file(const std::filesystem::path& path,
                                                 const std::string& content);

// Removes state.json.tmp.* from `dir` (a crashed save's); returns how many.
int remove_stale_temps(const std::filesystem::path& dir);

// state_dir/state.json, replaced atomically on every save (write_state_file) into a state_dir
// that prepare_state_dir accepts. Loading opens it with O_NOFOLLOW: a link named state.json, a
// file that is not regular, or a JSON document that is not an aisearchd state file (State::
// from_json: its format version) is an error, never empty state.
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
// processes never apply to the same state at once. The lock file is opened with O_NOFOLLOW and
// must be a regular file of this user with one link. Taking it removes stale temporary files
// (only the holder saves).
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
