// libFuzzer target: arbitrary bytes as an API answer (status, a Retry-After header, body) through
// the envelope parser, the typed object parsers and the client's list pagination. Nothing may
// crash, throw, hang or leak; every outcome is a value.
//
// Input layout: byte 0 picks the status, byte 1 the parser, bytes 2..9 a Retry-After header
// (up to the first NUL), the rest is the body.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "api/client.hpp"
#include "api/envelope.hpp"
#include "util/clock.hpp"
#include "util/sanitize.hpp"

namespace {

constexpr int k_statuses[] = {200, 201, 204, 299, 301, 400, 401, 403, 404,
                              408, 409, 429, 500, 502, 503, 0,   100, 999};

// Answers the fuzzed response first, then an empty page, so a list always ends.
class OneShotTransport final : public http::Transport {
 public:
  explicit OneShotTransport(http::HttpResponse first) : m_first(std::move(first)) {}
  util::Result<http::HttpResponse, http::TransportError> send(const http::HttpRequest&) override {
    if (m_calls++ == 0) return m_first;
    http::HttpResponse empty;
    empty.status = 200;
    empty.body = R"({"success":true,"errors":[],"messages":[],"result":[]})";
    return empty;
  }

 private:
  http::HttpResponse m_first;
  int m_calls = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 10) return 0;
  http::HttpResponse response;
  response.status = k_statuses[data[0] % std::size(k_statuses)];
  const unsigned which = data[1];
  std::string retry_after(reinterpret_cast<const char*>(data + 2), 8);
  retry_after = retry_after.substr(0, retry_after.find('\0'));
  if (!retry_after.empty()) {
    response.headers.emplace_back((which & 0x80) ? "retry-after-ms" : "retry-after", retry_after);
  }
  response.headers.emplace_back("content-type", "application/json");
  response.body.assign(reinterpret_cast<const char*>(data + 10), size - 10);

  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  const api::ResultNeed needs[] = {api::ResultNeed::any, api::ResultNeed::object,
                                   api::ResultNeed::array};
  auto env = api::parse_response(response, needs[which % 3], now, "secret-token");
  if (!env.ok()) {
    (void)env.error().describe();
    (void)env.error().retryable();
  } else {
    const nlohmann::json& result = env.value().result;
    (void)api::parse_page_info(env.value().result_info);
    (void)api::parse_instance(result, "default");
    (void)api::parse_namespace(result);
    (void)api::parse_job(result);
    (void)api::parse_job_log_entry(result);
    (void)api::parse_stats(result);
    if (result.is_array()) {
      for (const auto& item : result) (void)api::parse_instance(item, "default");
    }
  }
  (void)util::sanitize_text(response.body, "secret-token", 300);

  // The same answer as the first page of a list, through the client.
  if ((which & 0x40) && response.status != 0) {
    api::ClientConfig config;
    config.api_url = "https://api.test/client/v4";
    config.account_id = "acc";
    config.token = "secret-token";
    config.budget.capacity = 0;
    config.retry.max_attempts = 1;
    auto clock = std::make_shared<util::FakeClock>(now);
    api::Client client(config, std::make_shared<OneShotTransport>(response), clock);
    switch ((which >> 3) & 3) {
      case 0:
        (void)client.list_instances("default");
        break;
      case 1:
        (void)client.list_namespaces();
        break;
      case 2:
        (void)client.list_jobs("default", "docs", 3);
        break;
      default:
        (void)client.job_logs("default", "docs", "job", 50);
        break;
    }
  }
  return 0;
}
