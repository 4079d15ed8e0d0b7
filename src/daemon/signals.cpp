#include "daemon/signals.hpp"

#include <pthread.h>
#include <signal.h>

namespace service {

namespace {

// Sent to the signal thread by the destructor to end its sigwait().
constexpr int k_wake_signal = SIGUSR2;

sigset_t daemon_signal_set() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, k_wake_signal);
  return set;
}

}  // namespace

void block_daemon_signals() {
  sigset_t set = daemon_signal_set();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

SignalThread::SignalThread(std::function<void(int)> on_signal) : m_on_signal(std::move(on_signal)) {
  block_daemon_signals();
  m_thread = std::thread([this] { run(); });
}

SignalThread::~SignalThread() {
  m_stop = true;
  pthread_kill(m_thread.native_handle(), k_wake_signal);
  m_thread.join();
}

void SignalThread::run() {
  sigset_t set = daemon_signal_set();
  while (!m_stop) {
    int signo = 0;
    if (sigwait(&set, &signo) != 0) continue;
    if (m_stop) break;
    if (signo == k_wake_signal) continue;
    try {
      m_on_signal(signo);
    } catch (...) {
      // The callback only sets flags; nothing may escape the thread.
    }
  }
}

}  // namespace service
