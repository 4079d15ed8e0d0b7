#include "state/file_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/files.hpp"

namespace state {

FileStateStore::FileStateStore(std::filesystem::path state_dir)
    : m_dir(std::move(state_dir)), m_path(m_dir / "state.json") {}

util::Result<State, std::string> FileStateStore::load() {
  std::error_code ec;
  if (!std::filesystem::exists(m_path, ec)) return State{};
  auto text = util::read_file(m_path);
  if (!text) return util::Err(text.error());
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return util::Err(m_path.string() + ": not valid JSON");
  auto s = State::from_json(j);
  if (!s) return util::Err(m_path.string() + ": " + s.error());
  return s;
}

util::Result<void, std::string> FileStateStore::save(const State& state) {
  std::error_code ec;
  std::filesystem::create_directories(m_dir, ec);
  if (ec) return util::Err(m_dir.string() + ": " + ec.message());
  return util::write_file_atomic(m_path, state.to_json().dump(2) + "\n");
}

std::string FileStateStore::describe() const {
  return "file " + m_path.string();
}

util::Result<std::unique_ptr<StateLock>, std::string> StateLock::acquire(
    const std::filesystem::path& state_dir) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  auto path = state_dir / "lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return util::Err(path.string() + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    std::string holder = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "unknown";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return util::Err("state in " + state_dir.string() +
                     " is locked by another aisearchd process (pid " + holder + ")");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) == 0 && ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    // The pid is informational only.
  }
  return std::unique_ptr<StateLock>(new StateLock(fd));
}

StateLock::~StateLock() {
  ::flock(m_fd, LOCK_UN);
  ::close(m_fd);
}

}  // namespace state
