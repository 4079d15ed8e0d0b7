#pragma once

// A scripted http::Transport for unit tests of every module that talks to the API.
//
//   auto fake = std::make_shared<support::FakeTransport>();
//   fake->push(support::FakeTransport::json_response(200, support::envelope({{"id", "docs"}})));
//   fake->on("GET", "/accounts/acc/ai-search/namespaces/default/instances",
//            [](const support::RecordedRequest& r) { return support::FakeTransport::json_response(
//                200, support::list_envelope(nlohmann::json::array(), 1, 100, 0)); });
//   api::Client client(config, fake, clock);   // config.api_url = support::k_fake_api_url
//
// Queued answers are consumed first, in order, by any request; then a handler answers: the one
// whose method matches and whose path prefix is the longest match of the request path (the URL
// without scheme, host, the base path of k_fake_api_url, and query), the newest among equals. A
// prefix matches whole segments: "/a/b" matches "/a/b" and "/a/b/c", not "/a/bc"; "/" matches all.
// An unscripted request gets HTTP 418 with an error envelope naming it (not retried by the client).
// Every request is recorded. Thread-safe; handlers run without the lock held, so a handler may
// block.

#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/transport.hpp"
#include "util/result.hpp"

namespace support {

// The base URL unit tests give the client: https, so the client's http:// rule is satisfied.
inline constexpr const char* k_fake_api_url = "https://api.test/client/v4";

struct RecordedRequest {
  std::string method;
  std::string url;    // as sent
  std::string path;   // without scheme, host, "/client/v4" and query
  std::string query;  // without "?"
  http::Headers headers;
  std::string body;

  // The first header of that name (case-insensitive); "" when absent.
  std::string header(const std::string& name) const;
  // The body parsed as JSON; null when empty or not JSON.
  nlohmann::json json() const;
  // The value of a query parameter; "" when absent.
  std::string query_param(const std::string& name) const;
};

using FakeAnswer = util::Result<http::HttpResponse, http::TransportError>;
using FakeHandler = std::function<FakeAnswer(const RecordedRequest&)>;

class FakeTransport : public http::Transport {
 public:
  FakeAnswer send(const http::HttpRequest& request) override;

  // Queues one answer for the next request.
  void push(http::HttpResponse response);
  void push_json(int status, const nlohmann::json& body, http::Headers headers = {});
  void push_error(http::TransportError::Kind kind, std::string message = "connection reset");
  // Answers requests of `method` ("" = any) whose path starts with `path_prefix`.
  void on(std::string method, std::string path_prefix, FakeHandler handler);

  std::vector<RecordedRequest> requests() const;
  std::size_t request_count() const;
  std::size_t queued() const;  // answers not consumed yet
  void clear_requests();

  static http::HttpResponse json_response(int status, const nlohmann::json& body,
                                          http::Headers headers = {});
  static http::HttpResponse text_response(int status, std::string body,
                                          std::string content_type = "text/html");

 private:
  struct Route {
    std::string method, prefix;
    FakeHandler handler;
  };
  mutable std::mutex m_mutex;
  std::vector<FakeAnswer> m_queue;
  std::size_t m_next = 0;
  std::vector<Route> m_routes;
  std::vector<RecordedRequest> m_requests;
};

// {"success": true, "errors": [], "messages": [], "result": result}
nlohmann::json envelope(const nlohmann::json& result);
// A list page with result_info {page, per_page, count, total_count}; total_count < 0 = omitted.
nlohmann::json list_envelope(const nlohmann::json& items, int page, int per_page,
                             long total_count = -1);
// {"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result":
// null}
nlohmann::json error_envelope(int code, const std::string& message);

}  // namespace support
