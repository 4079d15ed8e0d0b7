#include "state/file_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace state {
namespace {

constexpr const char* k_state_name = "state.json";
constexpr const char* k_temp_prefix = "state.json.tmp.";

std::string errno_text(const std::filesystem::path& path, const char* what) {
  return path.string() + ": " + what + ": " + std::strerror(errno);
}

// Closes a descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int release() {
    const int f = fd;
    fd = -1;
    return f;
  }
};

// Reads a whole open file.
util::Result<std::string, std::string> read_fd(int fd, const std::filesystem::path& path) {
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return out;
    if (n < 0) {
      if (errno == EINTR) continue;
      return util::Err(errno_text(path, "read"));
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
}

}  // namespace

util::Result<void, std::string> prepare_state_dir(const std::filesystem::path& dir, bool create) {
  std::error_code ec;
  if (!create && !std::filesystem::exists(dir, ec)) return {};
  if (!std::filesystem::exists(dir, ec)) {
    if (dir.has_parent_path()) std::filesystem::create_directories(dir.parent_path(), ec);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return util::Err(errno_text(dir, "cannot create the state directory"));
    }
  }
  // The directory itself may be a symbolic link (systemd's DynamicUser makes StateDirectory
  // one); what it leads to must be ours and writable by us alone.
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.fd < 0) return util::Err(errno_text(dir, "cannot open the state directory"));
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) return util::Err(errno_text(dir, "stat"));
  if (!S_ISDIR(st.st_mode)) return util::Err(dir.string() + ": not a directory");
  // root may use any user's state_dir (an operator running `status` beside the service).
  if (st.st_uid != ::geteuid() && ::geteuid() != 0) {
    return util::Err(dir.string() + ": the state directory is owned by uid " +
                     std::to_string(st.st_uid) + ", not by this user (uid " +
                     std::to_string(::geteuid()) + "): chown it, or use another state_dir");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return util::Err(dir.string() + ": the state directory is writable by others (mode " + mode +
                     "): chmod 700 it");
  }
  return {};
}

util::Result<void, std::string> write_state_file(const std::filesystem::path& path,
                                                 const std::string& content) {
  // A fresh name (mkostemp: O_CREAT|O_EXCL, never through a planted link), mode 0600.
  std::string tmp = path.string() + ".tmp.XXXXXX";
  Fd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (fd.fd < 0) return util::Err(errno_text(tmp, "create"));
  const auto fail = [&](const char* what) {
    auto msg = errno_text(tmp, what);
    ::unlink(tmp.c_str());
    return util::Err(msg);
  };
  std::size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = ::write(fd.fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.fd) != 0) return fail("fsync");
  if (::close(fd.release()) != 0) return fail("close");
  // rename replaces a link named state.json itself, never what it points to.
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("rename");
  const auto dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.fd >= 0) ::fsync(dfd.fd);
  return {};
}

int remove_stale_temps(const std::filesystem::path& dir) {
  int removed = 0;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  const std::string_view prefix = k_temp_prefix;
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name = e->d_name;
    if (name.substr(0, prefix.size()) != prefix) continue;
    if (::unlinkat(::dirfd(d), e->d_name, 0) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

FileStateStore::FileStateStore(std::filesystem::path state_dir)
    : m_dir(std::move(state_dir)), m_path(m_dir / k_state_name) {}

util::Result<State, std::string> FileStateStore::load() {
  // A state file others could have planted would decide what aisearchd owns (and may delete).
  if (auto dir = prepare_state_dir(m_dir, false); !dir) return util::Err(dir.error());
  Fd fd(::open(m_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
  if (fd.fd < 0) {
    if (errno == ENOENT) return State{};
    if (errno == ELOOP) return util::Err(m_path.string() + ": is a symbolic link: refused");
    return util::Err(errno_text(m_path, "open"));
  }
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) return util::Err(errno_text(m_path, "stat"));
  if (!S_ISREG(st.st_mode)) return util::Err(m_path.string() + ": not a regular file: refused");
  if (st.st_uid != ::geteuid() && ::geteuid() != 0) {
    return util::Err(m_path.string() + ": owned by uid " + std::to_string(st.st_uid) +
                     ", not by this user: refused");
  }
  auto text = read_fd(fd.fd, m_path);
  if (!text) return util::Err(text.error());
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (j.is_discarded()) return util::Err(m_path.string() + ": not valid JSON");
  auto s = State::from_json(j);
  if (!s) return util::Err(m_path.string() + ": " + s.error());
  return s;
}

util::Result<void, std::string> FileStateStore::save(const State& state) {
  if (auto dir = prepare_state_dir(m_dir); !dir) return dir;
  return write_state_file(m_path, state.to_json().dump(2) + "\n");
}

std::string FileStateStore::describe() const {
  return "file " + m_path.string();
}

util::Result<std::unique_ptr<StateLock>, std::string> StateLock::acquire(
    const std::filesystem::path& state_dir) {
  if (auto dir = prepare_state_dir(state_dir); !dir) return util::Err(dir.error());
  auto path = state_dir / "lock";
  Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600));
  if (fd.fd < 0) {
    if (errno == ELOOP) return util::Err(path.string() + ": is a symbolic link: refused");
    return util::Err(path.string() + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (::fstat(fd.fd, &st) != 0) return util::Err(errno_text(path, "stat"));
  if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || st.st_uid != ::geteuid()) {
    return util::Err(path.string() +
                     ": not a regular file of this user with one link: refused (remove it)");
  }
  if (::flock(fd.fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = ::pread(fd.fd, buf, sizeof buf - 1, 0);
    std::string holder = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "unknown";
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    return util::Err("state in " + state_dir.string() +
                     " is locked by another aisearchd process (pid " + holder + ")");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.fd, 0) == 0 && ::pwrite(fd.fd, pid.data(), pid.size(), 0) < 0) {
    // The pid is informational only.
  }
  // Only the lock holder writes state, so any temporary file left now is a crashed save's.
  remove_stale_temps(state_dir);
  return std::unique_ptr<StateLock>(new StateLock(fd.release()));
}

StateLock::~StateLock() {
  ::flock(m_fd, LOCK_UN);
  ::close(m_fd);
}

}  // namespace state
