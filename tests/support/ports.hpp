#pragma once

#include <string>

namespace support {

// A 127.0.0.1 TCP port that is bound and never listened on, held for the object's life: a
// connection to it is refused at once, and no other process can take the port meanwhile (as
// one could take the port of a server that was just stopped). For "nothing listens there".
class RefusingPort {
 public:
  RefusingPort();  // throws std::runtime_error when no socket can be bound
  ~RefusingPort();
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;

  int port() const { return m_port; }
  std::string url() const;  // "http://127.0.0.1:PORT"

 private:
  int m_fd = -1;
  int m_port = 0;
};

// A 127.0.0.1 TCP port kept for a child process to bind, also across the child's restarts
// (etcd): chosen below the kernel's ephemeral range, so no bind(0) and no outgoing connection
// of any process is given it; free when chosen; and locked (flock on a file under
// $TMPDIR/aisearchd-test-ports/) for the object's life, so no other test process chooses it.
class ReservedPort {
 public:
  ReservedPort();  // throws std::runtime_error when no port can be reserved
  ~ReservedPort();
  ReservedPort(const ReservedPort&) = delete;
  ReservedPort& operator=(const ReservedPort&) = delete;

  int port() const { return m_port; }

 private:
  int m_lock_fd = -1;
  int m_port = 0;
};

// True when a socket of this process listens on TCP `port` (any address). Unlike a connection
// attempt, which another process that took the port since might answer, it asks about this
// process only: after a server's stop(), false says its listening socket is closed.
bool this_process_listens_on(int port);

}  // namespace support
