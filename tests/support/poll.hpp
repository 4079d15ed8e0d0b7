#pragma once

#include <chrono>
#include <functional>

namespace support {

// Polls `condition` every `interval` (real time) until it holds or `timeout` passes; returns its
// last value. For what another thread or process does, never instead of a condition.
bool poll_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval = std::chrono::milliseconds(20));

}  // namespace support
