#pragma once

#include "daemon/metrics.hpp"

namespace service {

// The standard process_* metrics every Prometheus client library exports (Linux, from /proc):
// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds.
void describe_process_metrics(MetricsRegistry& metrics);
// Reads /proc/self now and sets them; a value that cannot be read is left as it was.
void update_process_metrics(MetricsRegistry& metrics);

}  // namespace service
