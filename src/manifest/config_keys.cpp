#include "manifest/config_keys.hpp"

namespace manifest {

const std::vector<ConfigKeySpec>& config_key_table() {
  static const std::vector<ConfigKeySpec> table = {
      {"", "account_id", "ID", "",
       "The Cloudflare account. Unset: $CLOUDFLARE_ACCOUNT_ID, else the manifest's account_id. "
       "The --account-id flag wins over all of them."},
      {"", "api_url", "URL", "https://api.cloudflare.com/client/v4",
       "The API base URL. http:// is only accepted for loopback addresses (the emulator)."},
      {"", "api_token_file", "PATH", "",
       "A file holding the API token. The token is read from $CLOUDFLARE_API_TOKEN first, then "
       "this file, then $CREDENTIALS_DIRECTORY/cloudflare-api-token (systemd's LoadCredential=). "
       "It never appears in any output."},
      {"", "manifest", "PATH", "",
       "The manifest: a file, or a directory whose *.yaml and *.yml files are merged. Required "
       "by the commands that read it unless given with --manifest."},
      {"", "state_dir", "PATH", "/var/lib/aisearchd",
       "Where state.json (owned instances, digests, job history) lives with the file backend; "
       "$STATE_DIRECTORY under systemd."},
      {"", "mode", "apply|observe", "apply",
       "observe makes the daemon a dry run: it plans and reports, and never writes."},
      {"", "reconcile_interval", "DURATION", "5m",
       "How often the daemon reconciles (at least 10s)."},
      {"", "reconcile_jitter", "FRACTION", "10%",
       "A random spread around the interval, as a fraction (0.1) or a percentage (10%), 0 to 1."},
      {"", "drift", "correct|report", "correct",
       "What to do about remote changes made outside aisearchd: correct reverts them, report "
       "only shows them."},
      {"", "request_budget", "CALLS/PERIOD", "600/5m",
       "A client-side limit on all API calls together (Cloudflare allows 1200/5m per user)."},
      {"", "concurrency", "N", "8", "API calls in flight at most, 1 to 64."},
      {"", "http_timeout", "DURATION", "30s", "The timeout of one HTTP request."},
      {"", "max_answer_size", "SIZE", "8MiB",
       "One API answer at most after decompression, 1MiB to 256MiB (binary units: KiB, MiB, "
       "GiB). A larger answer is refused, not retried."},
      {"", "listen", "HOST:PORT", "127.0.0.1:9464",
       "The address of /metrics, /healthz, /readyz and /status; \"\" disables the endpoint."},
      {"", "notify_webhook", "URL", "\"\"",
       "POST a JSON event per job outcome and per failed reconcile to this URL; \"\" disables "
       "it."},
      {"", "notify_on", "changes|all", "changes",
       "changes: only a failure after a success, and a recovery; all: every outcome."},
      {"", "notify_secret", "TEXT", "\"\"",
       "Signs each webhook body: header X-Aisearchd-Signature: sha256=HMAC-SHA256 of the body, "
       "in hex. \"\" sends unsigned events. Keep it out of the file: "
       "notify_secret: ${AISEARCHD_NOTIFY_SECRET}. Never printed."},
      {"", "log_level", "trace|debug|info|warn|error", "info", "The least severe level logged."},
      {"", "log_format", "text|json", "text", "One line of text, or one JSON object, per event."},
      {"", "state_backend", "MAP", "",
       "Where state and leadership live: the keys below. Unset: the file backend in state_dir."},
      {"", "node_name", "NAME", "",
       "This node's name, shown as the leader's. Unset: the host name."},
      {"state_backend", "type", "file|etcd", "file",
       "file keeps state.json in state_dir; etcd shares state between several aisearchd nodes, "
       "one leader writes and the others stand by."},
      {"state_backend", "endpoints", "[URL, ...]", "[http://127.0.0.1:2379]",
       "The etcd endpoints (its gRPC gateway); https in production, http only for loopback."},
      {"state_backend", "prefix", "/PATH/", "/aisearchd/",
       "Every key under it; it starts and ends with '/'. One prefix per account and manifest."},
      {"state_backend", "lease_ttl", "DURATION", "15s",
       "The leadership lease (at least 3s); it is kept alive every ttl/3."},
      {"state_backend", "ca_file", "PATH", "", "TLS: the CA bundle that signs etcd's certificate."},
      {"state_backend", "cert_file", "PATH", "",
       "TLS: this client's certificate; goes with key_file."},
      {"state_backend", "key_file", "PATH", "", "TLS: this client's key; goes with cert_file."},
      {"state_backend", "username", "NAME", "", "etcd authentication: the user."},
      {"state_backend", "password_file", "PATH", "",
       "etcd authentication: a file holding the user's password."},
  };
  return table;
}

std::vector<std::string> config_key_names(std::string_view section) {
  std::vector<std::string> names;
  for (const auto& key : config_key_table())
    if (key.section == section) names.push_back(key.name);
  return names;
}

}  // namespace manifest
