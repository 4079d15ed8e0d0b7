#include "api/errors.hpp"

#include <algorithm>
#include <string>

namespace api {

const char* to_string(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::network:
      return "network";
    case ErrorKind::timeout:
      return "timeout";
    case ErrorKind::tls:
      return "tls";
    case ErrorKind::rate_limited:
      return "rate_limited";
    case ErrorKind::sync_cooldown:
      return "sync_cooldown";
    case ErrorKind::server:
      return "server";
    case ErrorKind::client:
      return "client";
    case ErrorKind::not_found:
      return "not_found";
    case ErrorKind::already_exists:
      return "already_exists";
    case ErrorKind::conflict:
      return "conflict";
    case ErrorKind::auth:
      return "auth";
    case ErrorKind::bad_response:
      return "bad_response";
    case ErrorKind::incomplete:
      return "incomplete";
  }
  return "unknown";
}

bool ApiError::has_code(int code) const {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

bool ApiError::retryable() const {
  switch (kind) {
    case ErrorKind::sync_cooldown:
      return false;
    case ErrorKind::network:
    case ErrorKind::timeout:
    case ErrorKind::rate_limited:
    case ErrorKind::server:
      return true;
    default:
      break;
  }
  if (http_status == 408 || http_status == 429 || http_status >= 500) return true;
  return http_status == 409 && has_code(k_code_modified_concurrently);
}

std::string ApiError::describe() const {
  std::string out;
  if (http_status > 0) out = "HTTP " + std::to_string(http_status) + " ";
  out += to_string(kind);
  if (!codes.empty()) {
    out += " [";
    for (std::size_t i = 0; i < codes.size(); ++i) {
      if (i > 0) out += ",";
      out += std::to_string(codes[i]);
    }
    out += "]";
  }
  if (!message.empty()) out += ": " + message;
  return out;
}

}  // namespace api
