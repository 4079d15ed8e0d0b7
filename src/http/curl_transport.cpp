#include "http/curl_transport.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "util/strings.hpp"

namespace http {
namespace {

constexpr std::size_t k_max_headers = 256u << 10;
constexpr std::size_t k_max_idle_handles = 16;

void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// Lets one large body at a time into memory (CurlOptions::large_body_bytes). The hold it hands
// out keeps the gate closed until the response holding it is destroyed; it shares the gate's
// state, so a response may outlive the transport.
class LargeBodyGate {
 public:
  // The hold, or nullptr when another large body is still held at `deadline`.
  std::shared_ptr<void> acquire(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(m_state->mutex);
    if (!m_state->cv.wait_until(lock, deadline, [&] { return !m_state->busy; })) return nullptr;
    m_state->busy = true;
    auto state = m_state;
    return std::shared_ptr<void>(state.get(), [state](void*) {
      {
        std::lock_guard release(state->mutex);
        state->busy = false;
      }
      state->cv.notify_one();
    });
  }

 private:
  struct State {
    std::mutex mutex;
    std::condition_variable cv;
    bool busy = false;
  };
  std::shared_ptr<State> m_state = std::make_shared<State>();
};

struct Received {
  HttpResponse response;
  std::size_t header_bytes = 0;
  bool body_too_large = false;
  bool gate_timed_out = false;
  bool sized = false;                         // the Content-Length was looked at
  std::optional<std::size_t> content_length;  // of an uncompressed body
  std::size_t max_body = 0;
  std::size_t large_body = 0;
  LargeBodyGate* gate = nullptr;
  std::chrono::steady_clock::time_point deadline;
};

// The Content-Length of a body sent without Content-Encoding (so it is the size received).
std::optional<std::size_t> plain_content_length(const HttpResponse& response) {
  if (response.header("content-encoding")) return std::nullopt;
  const auto value = response.header("content-length");
  if (!value || value->empty() || value->size() > 18 ||
      value->find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  return static_cast<std::size_t>(std::stoull(*value));
}

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* received = static_cast<Received*>(user);
  const std::size_t n = size * count;
  std::string& body = received->response.body;
  if (!received->sized) {
    received->sized = true;
    received->content_length = plain_content_length(received->response);
    if (received->content_length && *received->content_length > received->max_body) {
      received->body_too_large = true;  // refused before a byte of it is kept
      return 0;
    }
    if (received->content_length) {
      body.reserve(std::min(*received->content_length, received->large_body));
    }
  }
  const std::size_t total = body.size() + n;
  if (total > received->max_body) {
    received->body_too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  if (total > received->large_body && !received->response.hold) {
    received->response.hold = received->gate->acquire(received->deadline);
    if (!received->response.hold) {
      received->gate_timed_out = true;
      return 0;
    }
    if (received->content_length) body.reserve(*received->content_length);
  }
  body.append(data, n);
  return n;
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto* received = static_cast<Received*>(user);
  const std::size_t n = size * count;
  received->header_bytes += n;
  if (received->header_bytes > k_max_headers) return 0;
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (util::starts_with(line, "HTTP/")) {
    received->response.headers.clear();  // a new response (after 100 Continue or the like)
    return n;
  }
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return n;
  received->response.headers.emplace_back(util::to_lower(line.substr(0, colon)),
                                          util::trim(line.substr(colon + 1)));
  return n;
}

TransportError::Kind map_error(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return TransportError::Kind::timeout;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
      return TransportError::Kind::tls;
    default:
      return TransportError::Kind::network;
  }
}

class CurlTransport final : public Transport {
 public:
  explicit CurlTransport(CurlOptions options) : m_options(std::move(options)) {
    global_init_once();
  }

  ~CurlTransport() override {
    for (CURL* h : m_idle) curl_easy_cleanup(h);
  }

  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  util::Result<HttpResponse, TransportError> send(const HttpRequest& request) override {
    CURL* handle = acquire();
    if (!handle)
      return util::Err(TransportError{TransportError::Kind::network, "curl_easy_init failed"});
    auto result = perform(handle, request);
    release(handle);
    return result;
  }

 private:
  CURL* acquire() {
    {
      std::lock_guard lock(m_mutex);
      if (!m_idle.empty()) {
        CURL* h = m_idle.back();
        m_idle.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }

  void release(CURL* handle) {
    curl_easy_reset(handle);  // keeps the connection cache: the next request reuses it
    {
      std::lock_guard lock(m_mutex);
      if (m_idle.size() < k_max_idle_handles) {
        m_idle.push_back(handle);
        return;
      }
    }
    curl_easy_cleanup(handle);
  }

  util::Result<HttpResponse, TransportError> perform(CURL* h, const HttpRequest& request) {
    Received received;
    received.max_body = m_options.max_body_bytes;
    received.large_body = std::min(m_options.large_body_bytes, m_options.max_body_bytes);
    received.gate = &m_gate;
    received.deadline = std::chrono::steady_clock::now() + request.timeout;
    char error_buffer[CURL_ERROR_SIZE] = {};
    curl_slist* headers = nullptr;
    for (const auto& [name, value] : request.headers) {
      headers = curl_slist_append(headers, (name + ": " + value).c_str());
    }
    headers = curl_slist_append(headers, "Expect:");

    curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (!m_options.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, m_options.ca_file.c_str());
    if (!m_options.client_cert_file.empty()) {
      curl_easy_setopt(h, CURLOPT_SSLCERT, m_options.client_cert_file.c_str());
    }
    if (!m_options.client_key_file.empty()) {
      curl_easy_setopt(h, CURLOPT_SSLKEY, m_options.client_key_file.c_str());
    }
    // No proxy unless configured: http_proxy/https_proxy in the environment are ignored.
    curl_easy_setopt(h, CURLOPT_PROXY, m_options.proxy.c_str());
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(m_options.connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    if (request.fresh_connection) curl_easy_setopt(h, CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    if (!m_options.user_agent.empty()) {
      curl_easy_setopt(h, CURLOPT_USERAGENT, m_options.user_agent.c_str());
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &received);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &received);

    if (request.method == "GET") {
      curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (request.method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
          request.method == "PATCH") {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(request.body.size()));
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.c_str());
      }
    }

    const CURLcode code = curl_easy_perform(h);
    curl_slist_free_all(headers);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    received.response.status = static_cast<int>(status);
    if (received.body_too_large && status > 0) {
      // An answer, too big to keep: the caller learns its status and that it was cut.
      std::string().swap(received.response.body);
      received.response.hold.reset();
      received.response.body_over_limit = received.max_body;
      return std::move(received.response);
    }
    if (code != CURLE_OK) {
      std::string message = curl_easy_strerror(code);
      if (received.gate_timed_out) {
        message = "timed out waiting to receive a body larger than " +
                  std::to_string(received.large_body >> 10) + " KiB (one at a time)";
        return util::Err(TransportError{TransportError::Kind::timeout, message});
      }
      if (error_buffer[0] != '\0') message += ": " + std::string(error_buffer);
      return util::Err(TransportError{map_error(code), message});
    }
    return std::move(received.response);
  }

  CurlOptions m_options;
  LargeBodyGate m_gate;
  std::mutex m_mutex;
  std::vector<CURL*> m_idle;
};

}  // namespace

std::shared_ptr<Transport> make_curl_transport(const CurlOptions& options) {
  return std::make_shared<CurlTransport>(options);
}

}  // namespace http
