#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace service {

// The service manager's side channel (systemd's sd_notify protocol). The daemon talks to this
// interface so tests can record what it says.
class Notifier {
 public:
  virtual ~Notifier() = default;
  // Sends one state string, e.g. "READY=1\nSTATUS=...". Never fails the caller: without a
  // manager (no $NOTIFY_SOCKET) it does nothing.
  virtual void send(const std::string& state) = 0;
  // The watchdog period the manager asked for ($WATCHDOG_USEC for this process), if any.
  virtual std::optional<std::chrono::microseconds> watchdog_period() const = 0;

  void ready() { send("READY=1"); }
  // RELOADING=1 with MONOTONIC_USEC (required by newer systemd for Type=notify-reload).
  void reloading();
  void stopping() { send("STOPPING=1"); }
  void watchdog() { send("WATCHDOG=1"); }
  // STATUS=<one line>; newlines in `line` are replaced by spaces.
  void status(const std::string& line);
};

// sd_notify(3) from libsystemd ($NOTIFY_SOCKET; the variable is left in the environment).
std::unique_ptr<Notifier> make_systemd_notifier();

}  // namespace service
