#pragma once

// The libcurl transport (curl_transport.cpp is the only <curl/curl.h> user).

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "http/transport.hpp"

namespace http {

struct CurlOptions {
  std::string user_agent;        // e.g. "aisearchd/0.1.0"
  std::string ca_file;           // extra CA bundle; empty = system default
  std::string client_cert_file;  // optional TLS client certificate
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

}  // namespace http
