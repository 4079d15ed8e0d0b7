#include "daemon/notify.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

namespace service {

void Notifier::reloading() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  auto usec = static_cast<unsigned long long>(ts.tv_sec) * 1000000ULL +
              static_cast<unsigned long long>(ts.tv_nsec) / 1000ULL;
  send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

void Notifier::status(const std::string& line) {
  std::string clean = line;
  for (char& c : clean)
    if (c == '\n' || c == '\r') c = ' ';
  send("STATUS=" + clean);
}

namespace {

class SystemdNotifier final : public Notifier {
 public:
  void send(const std::string& state) override { (void)::sd_notify(0, state.c_str()); }

  std::optional<std::chrono::microseconds> watchdog_period() const override {
    uint64_t usec = 0;
    if (::sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
      return std::chrono::microseconds(static_cast<std::int64_t>(usec));
    return std::nullopt;
  }
};

}  // namespace

std::unique_ptr<Notifier> make_systemd_notifier() {
  return std::make_unique<SystemdNotifier>();
}

}  // namespace service
