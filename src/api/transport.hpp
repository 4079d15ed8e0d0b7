#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.hpp"

namespace api {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // GET POST PUT PATCH DELETE
  std::string url;     // absolute
  Headers headers;
  std::string body;
  std::chrono::milliseconds timeout{30'000};
  // Send on a new connection. libcurl sends a request again, unasked, when the reused
  // connection it went out on closes before any answer; a request that is not idempotent (POST
  // jobs) must never be sent twice, so it does not ride a reused connection.
  bool fresh_connection = false;
};

// Any HTTP answer, 4xx and 5xx included: those are responses, not transport errors.
struct HttpResponse {
  int status = 0;
  Headers headers;  // names lower-cased
  std::string body;
  // Set (to the limit) when the body passed the transport's limit (CurlOptions::max_body_bytes):
  // the transfer was cut and `body` is empty. The API client refuses such an answer, unretried.
  std::optional<std::size_t> body_over_limit;
  // Keeps what the transport reserved for this body (CurlOptions::large_body_bytes) until the
  // response is destroyed; empty for small bodies.
  std::shared_ptr<void> hold;

  // The first header of that (lower-case) name.
  std::optional<std::string> header(std::string_view lower_name) const;
};

// The request produced no HTTP response.
struct TransportError {
  enum class Kind { network, timeout, tls };
  Kind kind = Kind::network;
  std::string message;  // never contains request headers
};

// The HTTP seam: the client, the etcd backend and the webhook notifier send through it.
// Implementations are safe to call from several threads at once.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual util::Result<HttpResponse, TransportError> send(const HttpRequest& request) = 0;
};

struct CurlOptions {
  std::string user_agent;        // e.g. "aisearchd/0.1.0"
  std::string ca_file;           // extra CA bundle; empty = system default
  std::string client_cert_file;  // optional TLS client certificate (etcd)
  std::string client_key_file;
  std::chrono::milliseconds connect_timeout{10'000};
  std::string
      proxy;  // e.g. "http://proxy:3128"; empty = none (proxy environment variables ignored)
  // The largest body one answer may have after decompression; past it the transfer is cut and
  // the response carries body_over_limit (a gzip bomb costs this much, not its expansion).
  std::size_t max_body_bytes = 8u << 20;
  // Bodies past this size are received one at a time per transport (the next one waits, within
  // its timeout, until the response holding the previous one is destroyed): with `concurrency`
  // requests in flight, answers hold at most concurrency * large_body_bytes + max_body_bytes.
  std::size_t large_body_bytes = 1u << 20;
};

// The libcurl transport (the only <curl/curl.h> user). Reuses connections (keep-alive) through a
// pool of easy handles; TLS peer and host verification are always on; redirects are not followed;
// bodies are bounded by max_body_bytes and large_body_bytes (above).
std::shared_ptr<Transport> make_curl_transport(const CurlOptions& options);

}  // namespace api
