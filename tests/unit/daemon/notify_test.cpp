#include "daemon/notify.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

namespace {

class Recording : public service::Notifier {
 public:
  void send(const std::string& s) override { sent.push_back(s); }
  std::optional<std::chrono::microseconds> watchdog_period() const override { return {}; }
  std::vector<std::string> sent;
};

TEST(Notify, StatusIsOneLine) {
  Recording r;
  r.status("a\nb\rc");
  ASSERT_EQ(r.sent.size(), 1u);
  EXPECT_EQ(r.sent[0], "STATUS=a b c");
}

TEST(Notify, ReloadingCarriesMonotonicTime) {
  Recording r;
  r.reloading();
  ASSERT_EQ(r.sent.size(), 1u);
  EXPECT_EQ(r.sent[0].rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << r.sent[0];
}

TEST(Notify, SystemdNotifierWritesToNotifySocketAndReadsWatchdog) {
  auto path = std::filesystem::temp_directory_path() /
              ("aisearchd-notify-" + std::to_string(::getpid()) + ".sock");
  std::filesystem::remove(path);
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "4000000", 1);
  ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
  auto n = service::make_systemd_notifier();
  n->ready();
  auto wd = n->watchdog_period();
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  ::unsetenv("WATCHDOG_PID");
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 5000), 1);
  char buf[256] = {};
  auto got = ::recv(fd, buf, sizeof buf - 1, 0);
  ::close(fd);
  std::filesystem::remove(path);
  EXPECT_EQ(std::string(buf, got > 0 ? static_cast<std::size_t>(got) : 0), "READY=1");
  ASSERT_TRUE(wd.has_value());
  EXPECT_EQ(wd->count(), 4000000);
}

TEST(Notify, WithoutAManagerNothingHappens) {
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  auto n = service::make_systemd_notifier();
  n->ready();  // must not fail or block
  EXPECT_FALSE(n->watchdog_period().has_value());
}

}  // namespace
