#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "manifest/model.hpp"
#include "util/env_expand.hpp"
#include "util/result.hpp"

namespace manifest {

inline constexpr const char* k_default_config_path = "/etc/aisearchd/aisearchd.yaml";

// A client-side request budget written "600/5m": at most `capacity` API calls per `period`.
struct RequestBudget {
  int capacity = 600;
  std::chrono::milliseconds period{std::chrono::minutes(5)};
  bool operator==(const RequestBudget&) const = default;
};

// Parses "N/DURATION" (N >= 1, DURATION >= 1s), e.g. "600/5m". Fails with a readable message.
util::Result<RequestBudget, std::string> parse_request_budget(std::string_view text);
// "8MiB", "512KiB", "1GiB" or a plain number of bytes (binary units only, as systemd's
// MemoryMax= reads them: "8M" is 8 MiB too).
util::Result<std::size_t, std::string> parse_byte_size(std::string_view text);

// Where state lives (PRODUCT.md §11).
struct StateBackendConfig {
  enum class Type { file, etcd };
  Type type = Type::file;
  std::vector<std::string> endpoints = {"http://127.0.0.1:2379"};  // http only for loopback
  std::string prefix = "/aisearchd/";                              // starts and ends with '/'
  std::chrono::milliseconds lease_ttl{std::chrono::seconds(15)};   // >= 3s
  std::string ca_file, cert_file, key_file;                        // "" = unset
  std::string username;                                            // "" = no auth
  std::string password_file;                                       // "" = unset
  bool operator==(const StateBackendConfig&) const = default;
};

// The daemon config file (PRODUCT.md §3, §11), every key with its documented default. A key the
// file sets is listed in `keys_given` (top-level names, e.g. "state_dir"), so the command line
// can tell "set in the config" from "the default" ("the flag wins", then the config, then
// environment fallbacks such as $STATE_DIRECTORY).
struct DaemonConfig {
  enum class Mode { apply, observe };
  enum class Drift { correct, report };
  enum class NotifyOn { changes, all };

  std::optional<std::string> account_id;  // "" after expansion counts as unset
  std::string api_url = "https://api.cloudflare.com/client/v4";  // http:// only for loopback
  std::optional<std::string> api_token_file;
  std::optional<std::string> manifest;  // file or directory
  std::string state_dir = "/var/lib/aisearchd";
  Mode mode = Mode::apply;
  std::chrono::milliseconds reconcile_interval{std::chrono::minutes(5)};  // >= 10s
  double reconcile_jitter = 0.10;  // fraction of the interval, 0..1
  Drift drift = Drift::correct;
  RequestBudget request_budget;
  int concurrency = 8;                                               // 1..64 in-flight API calls
  std::chrono::milliseconds http_timeout{std::chrono::seconds(30)};  // > 0
  std::size_t max_answer_size = 8u << 20;  // one API answer at most, 1 MiB..256 MiB
  std::string listen = "127.0.0.1:9464";   // "" disables; otherwise HOST:PORT
  std::string notify_webhook;              // "" disables; otherwise an http(s) URL
  NotifyOn notify_on = NotifyOn::changes;
  // Signs each webhook body (HMAC-SHA256, header X-Aisearchd-Signature); "" = unsigned. Usually
  // "${AISEARCHD_NOTIFY_SECRET}"; never printed.
  std::string notify_secret;
  std::string log_level = "info";   // trace debug info warn error
  std::string log_format = "text";  // text json
  StateBackendConfig state_backend;
  std::optional<std::string> node_name;  // "" after expansion counts as unset (use the host name)

  std::optional<std::string> file;  // the file it was read from; nullopt = built-in defaults
  std::set<std::string> keys_given;
  bool operator==(const DaemonConfig&) const = default;
};

// Reads and strictly validates the daemon config: unknown keys (with a "did you mean"),
// duplicate keys, wrong types and bad values are errors with file:line:column; `${VAR}` and
// `${VAR:-default}` are expanded in values. When `must_exist` is false and the file does not
// exist, returns the defaults (the default path is optional; a path the user named is not).
// An empty file is the defaults. Never throws.
util::Result<DaemonConfig, std::vector<ManifestError>> load_config(
    const std::filesystem::path& path, const util::EnvLookup& env, bool must_exist = true);

// The same for an in-memory text; `filename` names it in errors.
util::Result<DaemonConfig, std::vector<ManifestError>> load_config_string(
    std::string_view yaml, const std::string& filename, const util::EnvLookup& env);

// True for http(s) URLs whose host is a loopback address (127.0.0.0/8, ::1, localhost).
bool is_loopback_url(std::string_view url);

}  // namespace manifest
