#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>

#include "support/ports.hpp"

namespace support {

// A single-node `etcd` (Debian etcd-server; $ETCD_BIN wins over /usr/bin/etcd) for integration
// tests: 127.0.0.1 client and peer ports reserved for it (support::ReservedPort: no other
// process takes them, also while it is stopped), a temporary data dir, ready when its /health
// says so (60 s deadline; throws std::runtime_error otherwise). The destructor kills it (SIGKILL)
// and removes the data dir. stop() / start() keep the ports and the data, so a test can take etcd
// away under a running daemon and bring it back.
class EtcdProcess {
 public:
  EtcdProcess();
  ~EtcdProcess();
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  std::string endpoint() const;  // "http://127.0.0.1:PORT"
  int client_port() const { return m_client_port; }
  pid_t pid() const { return m_pid; }

  // Kills the process (SIGKILL) and waits for it.
  void stop();
  // Starts it again with the same ports and data; waits until healthy.
  void start();

 private:
  std::filesystem::path m_dir;
  ReservedPort m_client_reservation;
  ReservedPort m_peer_reservation;
  int m_client_port = 0;
  int m_peer_port = 0;
  pid_t m_pid = -1;
};

}  // namespace support
