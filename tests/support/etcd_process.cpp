#include "support/etcd_process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <thread>

namespace support {
namespace {

std::string etcd_binary() {
  if (const char* env = std::getenv("ETCD_BIN"); env != nullptr && *env != '\0') return env;
  return "/usr/bin/etcd";
}

// GET /health over a plain socket; true when etcd says {"health":"true"}.
bool healthy(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string req = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      std::string answer;
      char buf[512];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)
        answer.append(buf, static_cast<std::size_t>(n));
      ok = answer.find("\"health\":\"true\"") != std::string::npos;
    }
  }
  ::close(fd);
  return ok;
}

}  // namespace

EtcdProcess::EtcdProcess() {
  std::random_device rd;
  m_dir = std::filesystem::temp_directory_path() /
          ("aisearchd-etcd-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(m_dir);
  m_client_port = m_client_reservation.port();
  m_peer_port = m_peer_reservation.port();
  start();
}

EtcdProcess::~EtcdProcess() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(m_dir, ec);
}

std::string EtcdProcess::endpoint() const {
  return "http://127.0.0.1:" + std::to_string(m_client_port);
}

void EtcdProcess::start() {
  if (m_pid > 0) return;
  const std::string client = endpoint();
  const std::string peer = "http://127.0.0.1:" + std::to_string(m_peer_port);
  std::vector<std::string> args = {etcd_binary(),
                                   "--name",
                                   "test",
                                   "--data-dir",
                                   (m_dir / "data").string(),
                                   "--listen-client-urls",
                                   client,
                                   "--advertise-client-urls",
                                   client,
                                   "--listen-peer-urls",
                                   peer,
                                   "--initial-advertise-peer-urls",
                                   peer,
                                   "--initial-cluster",
                                   "test=" + peer};
  const std::string log_path = (m_dir / "etcd.log").string();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("etcd: fork failed");
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_RDWR);
    int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    if (log >= 0) {
      ::dup2(log, STDOUT_FILENO);
      ::dup2(log, STDERR_FILENO);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  m_pid = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
      m_pid = -1;
      throw std::runtime_error("etcd exited at start (" + args[0] + "); see " +
                               (m_dir / "etcd.log").string());
    }
    if (healthy(m_client_port)) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  stop();
  throw std::runtime_error("etcd did not become healthy within 60 s (" + args[0] + ")");
}

void EtcdProcess::stop() {
  if (m_pid <= 0) return;
  ::kill(m_pid, SIGKILL);
  int status = 0;
  while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
  }
  m_pid = -1;
}

}  // namespace support
