#pragma once

#include <atomic>
#include <functional>
#include <thread>

namespace service {

// Handles SIGTERM, SIGINT and SIGHUP on a dedicated thread with sigwait(): nothing runs in a
// signal handler. The constructor blocks those signals in the calling thread, so it must run
// before any other thread is started (threads inherit the mask); they stay blocked after the
// destructor has stopped the thread. The callback runs on the signal thread and should only set
// flags / notify (e.g. Daemon::request_stop).
class SignalThread {
 public:
  explicit SignalThread(std::function<void(int signo)> on_signal);
  ~SignalThread();
  SignalThread(const SignalThread&) = delete;
  SignalThread& operator=(const SignalThread&) = delete;

 private:
  void run();

  std::function<void(int)> m_on_signal;
  std::atomic<bool> m_stop{false};
  std::thread m_thread;
};

// Blocks SIGTERM, SIGINT, SIGHUP (and the thread's internal wake-up signal) in the calling
// thread. SignalThread does this itself; exposed so a process can block them first thing.
void block_daemon_signals();

}  // namespace service
