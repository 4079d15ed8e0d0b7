#include "api/token.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace api {
namespace {

// Trailing newlines and spaces trimmed (a token file usually ends with "\n").
std::string trim_trailing(std::string s) {
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t')) {
    s.pop_back();
  }
  return s;
}

enum class ReadStatus { ok, missing, unreadable };

// Reads a token file; the error text names the file and the reason, never the content.
ReadStatus read_token_file(const std::filesystem::path& path, std::string& out,
                           std::string& error) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    error = path.string() + ": no such file";
    return ReadStatus::missing;
  }
  if (std::filesystem::is_directory(status)) {
    error = path.string() + ": is a directory";
    return ReadStatus::unreadable;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path.string() + ": cannot be read (" + std::strerror(errno) + ")";
    return ReadStatus::unreadable;
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    error = path.string() + ": read failed";
    return ReadStatus::unreadable;
  }
  out = trim_trailing(buffer.str());
  return ReadStatus::ok;
}

}  // namespace

util::Result<std::string, std::string> resolve_token(const std::string& api_token_file,
                                                     const util::EnvLookup& env) {
  if (auto v = env("CLOUDFLARE_API_TOKEN")) {
    std::string token = trim_trailing(*v);
    if (!token.empty()) return token;
  }
  if (!api_token_file.empty()) {
    std::string token, error;
    if (read_token_file(api_token_file, token, error) != ReadStatus::ok) {
      return util::Err("api_token_file " + error);
    }
    if (!token.empty()) return token;
  }
  if (auto dir = env("CREDENTIALS_DIRECTORY"); dir && !dir->empty()) {
    const auto path = std::filesystem::path(*dir) / "cloudflare-api-token";
    std::string token, error;
    const auto status = read_token_file(path, token, error);
    if (status == ReadStatus::unreadable) return util::Err("credential " + error);
    if (status == ReadStatus::ok && !token.empty()) return token;
  }
  return util::Err(std::string(
      "no API token: set $CLOUDFLARE_API_TOKEN, api_token_file, or a systemd credential "
      "named cloudflare-api-token ($CREDENTIALS_DIRECTORY)"));
}

}  // namespace api
