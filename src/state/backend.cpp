#include "state/backend.hpp"
#include "http/curl_transport.hpp"

#include <utility>

#include "state/file_store.hpp"
#include "util/files.hpp"

namespace state {

util::Result<std::shared_ptr<EtcdClient>, std::string> make_etcd_client(
    const BackendConfig& config) {
  EtcdOptions options;
  options.endpoints = config.endpoints;
  options.prefix = config.prefix;
  options.username = config.username;
  if (!config.password_file.empty()) {
    auto password = util::read_file(config.password_file);
    if (!password) return util::Err("etcd password_file: " + password.error());
    options.password = std::move(*password);
    while (!options.password.empty() &&
           (options.password.back() == '\n' || options.password.back() == '\r'))
      options.password.pop_back();
  }
  // TLS files are read by libcurl on every connection; one that cannot be read would only show
  // as "etcd unreachable" for ever, so it is a configuration error at start.
  for (const auto& [key, path] :
       {std::pair<const char*, const std::string&>{"ca_file", config.ca_file},
        {"cert_file", config.cert_file},
        {"key_file", config.key_file}}) {
    if (path.empty()) continue;
    if (auto readable = util::read_file(path); !readable)
      return util::Err(std::string("etcd ") + key + ": " + readable.error());
  }
  http::CurlOptions curl;
  curl.user_agent = config.user_agent;
  curl.ca_file = config.ca_file;
  curl.client_cert_file = config.cert_file;
  curl.client_key_file = config.key_file;
  curl.connect_timeout = std::chrono::milliseconds(2'000);
  // The whole state travels in one answer (base64 inside etcd's JSON): the 64 MiB it always had,
  // not the API's 8 MiB per answer.
  curl.max_body_bytes = 64u << 20;
  curl.large_body_bytes = 64u << 20;
  return std::make_shared<EtcdClient>(std::move(options), http::make_curl_transport(curl));
}

util::Result<std::unique_ptr<StateStore>, std::string> make_state_store(
    const BackendConfig& config, std::shared_ptr<EtcdClient> etcd) {
  if (config.type == BackendConfig::Type::file)
    return std::unique_ptr<StateStore>(std::make_unique<FileStateStore>(config.state_dir));
  if (!etcd) {
    auto client = make_etcd_client(config);
    if (!client) return util::Err(client.error());
    etcd = std::move(*client);
  }
  return std::unique_ptr<StateStore>(std::make_unique<EtcdStateStore>(std::move(etcd)));
}

}  // namespace state
