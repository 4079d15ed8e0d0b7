#include "daemon/signals.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "support/poll.hpp"

namespace {

using namespace std::chrono_literals;

// Polls until `v` is `want` (30 s deadline, for a busy machine).
bool wait_until(const std::atomic<int>& v, int want) {
  return support::poll_until([&] { return v.load() == want; }, 30s, 5ms);
}

TEST(Signals, DeliveredToTheCallbackOnItsOwnThread) {
  std::atomic<int> last{0};
  std::atomic<int> count{0};
  std::thread::id callback_thread;
  {
    service::SignalThread t([&](int signo) {
      callback_thread = std::this_thread::get_id();
      last = signo;
      ++count;
    });
    ::kill(::getpid(), SIGHUP);
    ASSERT_TRUE(wait_until(count, 1));
    EXPECT_EQ(last.load(), SIGHUP);
    ::kill(::getpid(), SIGTERM);
    ASSERT_TRUE(wait_until(count, 2));
    EXPECT_EQ(last.load(), SIGTERM);
    ::kill(::getpid(), SIGINT);
    ASSERT_TRUE(wait_until(count, 3));
    EXPECT_EQ(last.load(), SIGINT);
  }
  EXPECT_NE(callback_thread, std::this_thread::get_id());
  // After the thread is gone the signals stay blocked: a stray SIGHUP does not kill the process.
  ::kill(::getpid(), SIGHUP);
  sigset_t pending;
  sigpending(&pending);
  EXPECT_TRUE(sigismember(&pending, SIGHUP));
  // Consume it so later tests start clean.
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  int got = 0;
  sigwait(&hup, &got);
  EXPECT_EQ(got, SIGHUP);
}

TEST(Signals, ACallbackThatThrowsDoesNotEndTheThread) {
  std::atomic<int> count{0};
  service::SignalThread t([&](int) {
    ++count;
    throw std::runtime_error("ignored");
  });
  ::kill(::getpid(), SIGHUP);
  ASSERT_TRUE(wait_until(count, 1));
  ::kill(::getpid(), SIGHUP);
  ASSERT_TRUE(wait_until(count, 2));
}

}  // namespace
