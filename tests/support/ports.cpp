#include "support/ports.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

namespace support {
namespace {

sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// The first port of the kernel's ephemeral range (32768 when it cannot be read).
int ephemeral_low() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 0, high = 0;
  if (in >> low >> high && low > 1024) return low;
  return 32768;
}

// True when `port` can be bound on 127.0.0.1 right now (nothing holds it, not even TIME_WAIT).
bool bindable(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr = loopback(port);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

RefusingPort::RefusingPort() {
  m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (m_fd < 0) throw std::runtime_error("RefusingPort: socket failed");
  sockaddr_in addr = loopback(0);
  socklen_t len = sizeof addr;
  if (::bind(m_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(m_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(m_fd);
    throw std::runtime_error(std::string("RefusingPort: bind failed: ") + std::strerror(errno));
  }
  m_port = ntohs(addr.sin_port);
}

RefusingPort::~RefusingPort() {
  if (m_fd >= 0) ::close(m_fd);
}

std::string RefusingPort::url() const {
  return "http://127.0.0.1:" + std::to_string(m_port);
}

ReservedPort::ReservedPort() {
  const char* tmp = std::getenv("TMPDIR");
  const std::filesystem::path dir =
      std::filesystem::path(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") / "aisearchd-test-ports";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const int high = ephemeral_low() - 1;
  const int low = std::max(1025, high - 12000);
  std::random_device rd;
  std::mt19937 rng(rd());
  std::uniform_int_distribution<int> pick(low, high);
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const int port = pick(rng);
    const std::string lock_path = (dir / (std::to_string(port) + ".lock")).string();
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      continue;  // another test process holds it
    }
    if (!bindable(port)) {
      ::close(fd);
      continue;
    }
    m_lock_fd = fd;
    m_port = port;
    return;
  }
  throw std::runtime_error("ReservedPort: no free port below the ephemeral range");
}

ReservedPort::~ReservedPort() {
  if (m_lock_fd >= 0) ::close(m_lock_fd);
}

bool this_process_listens_on(int port) {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) throw std::runtime_error("this_process_listens_on: no /proc/self/fd");
  bool found = false;
  while (dirent* entry = ::readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == ::dirfd(dir)) continue;
    int listening = 0;
    socklen_t len = sizeof listening;
    if (::getsockopt(static_cast<int>(fd), SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 ||
        listening == 0) {
      continue;  // not a socket, or not listening
    }
    sockaddr_storage local{};
    socklen_t local_len = sizeof local;
    if (::getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &local_len) != 0)
      continue;
    int bound = -1;
    if (local.ss_family == AF_INET) bound = ntohs(reinterpret_cast<sockaddr_in&>(local).sin_port);
    if (local.ss_family == AF_INET6)
      bound = ntohs(reinterpret_cast<sockaddr_in6&>(local).sin6_port);
    if (bound == port) {
      found = true;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

}  // namespace support
