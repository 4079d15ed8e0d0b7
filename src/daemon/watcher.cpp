#include "daemon/watcher.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <vector>

#include <spdlog/spdlog.h>

#include "util/strings.hpp"

namespace service {

namespace fs = std::filesystem;

namespace {

constexpr std::uint32_t k_dir_mask = IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM |
                                     IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF |
                                     IN_ATTRIB | IN_ONLYDIR;

bool is_manifest_file(const fs::path& p) {
  auto name = p.filename().string();
  if (name.empty() || name[0] == '.') return false;
  auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml";
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return "unreadable:" + std::string(std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string ManifestWatcher::fingerprint(const fs::path& path) {
  std::error_code ec;
  std::string data;
  if (fs::is_directory(path, ec)) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      std::error_code fec;
      if (entry.is_regular_file(fec) && is_manifest_file(entry.path()))
        files.push_back(entry.path());
    }
    if (ec) return "error:" + ec.message();
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      data += f.filename().string();
      data += '\0';
      auto content = read_all(f);
      data += std::to_string(content.size());
      data += '\0';
      data += content;
    }
    return "dir:" + util::fnv1a_hex(data) + ":" + std::to_string(data.size());
  }
  if (!fs::exists(path, ec)) return "missing";
  data = read_all(path);
  return "file:" + util::fnv1a_hex(data) + ":" + std::to_string(data.size());
}

ManifestWatcher::ManifestWatcher(fs::path path, std::chrono::milliseconds debounce,
                                 const util::Clock& clock, std::function<void()> on_change)
    : m_path(std::move(path)),
      m_debounce(debounce),
      m_clock(clock),
      m_on_change(std::move(on_change)) {}

ManifestWatcher::~ManifestWatcher() {
  stop();
}

util::Result<void, std::string> ManifestWatcher::start() {
  if (m_thread.joinable()) return {};
  m_inotify = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (m_inotify < 0) return util::Err(std::string("inotify_init1: ") + std::strerror(errno));
  m_wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (m_wake < 0) {
    ::close(m_inotify);
    m_inotify = -1;
    return util::Err(std::string("eventfd: ") + std::strerror(errno));
  }
  std::error_code ec;
  auto abs = fs::absolute(m_path, ec);
  if (!ec) m_path = abs.lexically_normal();
  m_last = fingerprint(m_path);
  rewatch();
  m_thread = std::thread([this] { run(); });
  return {};
}

void ManifestWatcher::stop() {
  if (m_thread.joinable()) {
    std::uint64_t one = 1;
    (void)!::write(m_wake, &one, sizeof one);
    m_thread.join();
  }
  if (m_inotify >= 0) ::close(m_inotify);
  if (m_wake >= 0) ::close(m_wake);
  m_inotify = m_wake = -1;
}

void ManifestWatcher::rewatch() {
  // Re-adding a watch on the same inode returns the same descriptor (harmless); a path that
  // now names a new inode (swapped symlink, re-created directory) gets a new one. Watches on
  // inodes that are gone are dropped by the kernel (IN_IGNORED).
  std::set<fs::path> dirs;
  std::error_code ec;
  if (m_path.has_parent_path()) dirs.insert(m_path.parent_path());
  if (fs::is_directory(m_path, ec)) dirs.insert(m_path);
  auto real = fs::canonical(m_path, ec);
  if (!ec) {
    if (fs::is_directory(real, ec))
      dirs.insert(real);
    else if (real.has_parent_path())
      dirs.insert(real.parent_path());
  }
  // A symlinked parent (e.g. /srv/gitops/current -> releases/42): watch where it points too.
  if (m_path.has_parent_path()) {
    auto parent_real = fs::canonical(m_path.parent_path(), ec);
    if (!ec) dirs.insert(parent_real);
  }
  for (const auto& d : dirs) (void)::inotify_add_watch(m_inotify, d.c_str(), k_dir_mask);
}

void ManifestWatcher::run() {
  bool pending = false;
  util::Clock::SteadyTime first{}, last{};
  alignas(inotify_event) char buf[16 * 1024];
  for (;;) {
    int timeout = -1;
    if (pending) {
      auto due = std::min(last + m_debounce, first + 4 * m_debounce);
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(due - m_clock.steady_now());
      timeout = static_cast<int>(std::max<std::int64_t>(0, left.count()));
    }
    pollfd fds[2] = {{m_inotify, POLLIN, 0}, {m_wake, POLLIN, 0}};
    int n = ::poll(fds, 2, timeout);
    if (n < 0 && errno != EINTR) {
      spdlog::error("manifest watcher: poll: {}", std::strerror(errno));
      return;
    }
    if (n > 0 && (fds[1].revents & POLLIN)) return;
    if (n > 0 && (fds[0].revents & POLLIN)) {
      while (::read(m_inotify, buf, sizeof buf) > 0) {
      }
      last = m_clock.steady_now();
      if (!pending) first = last;
      pending = true;
      continue;
    }
    if (!pending) continue;
    auto due = std::min(last + m_debounce, first + 4 * m_debounce);
    if (m_clock.steady_now() < due) continue;
    pending = false;
    rewatch();
    auto now_fp = fingerprint(m_path);
    if (now_fp == m_last) continue;
    m_last = std::move(now_fp);
    try {
      m_on_change();
    } catch (const std::exception& e) {
      spdlog::error("manifest watcher: {}", e.what());
    } catch (...) {
      spdlog::error("manifest watcher: unknown error");
    }
  }
}

}  // namespace service
