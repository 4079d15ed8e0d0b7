#pragma once

// The HTTP floor under api/ (the AI Search client) and state/ (the etcd gateway client): one
// request and answer type and the Transport seam both send through. Knows nothing of Cloudflare
// or etcd.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.hpp"

namespace http {

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

// The HTTP seam: the API client, the etcd backend and the webhook notifier send through it.
// Implementations are safe to call from several threads at once.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual util::Result<HttpResponse, TransportError> send(const HttpRequest& request) = 0;
};

}  // namespace http
