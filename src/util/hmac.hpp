#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace util {

// SHA-256 (FIPS 180-4) of `data`.
std::array<std::uint8_t, 32> sha256(std::string_view data);

// HMAC-SHA256 (RFC 2104) of `message` under `key`, as 64 lower-case hex digits.
std::string hmac_sha256_hex(std::string_view key, std::string_view message);

}  // namespace util
