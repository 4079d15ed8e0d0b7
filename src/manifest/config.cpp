#include "manifest/config.hpp"

#include <algorithm>

#include "manifest/config_keys.hpp"
#include "manifest/yaml_reader.hpp"
#include "util/duration.hpp"
#include "util/files.hpp"
#include "util/strings.hpp"

namespace manifest {

namespace {

using detail::Entry;
using detail::Reader;

// Splits "scheme://host[:port]/..." and returns the host ("" when it is no http(s) URL).
std::string url_host(std::string_view url, std::string* scheme = nullptr) {
  auto sep = url.find("://");
  if (sep == std::string_view::npos) return {};
  std::string s = util::to_lower(url.substr(0, sep));
  if (s != "http" && s != "https") return {};
  if (scheme) *scheme = s;
  std::string_view rest = url.substr(sep + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return {};
    return std::string(rest.substr(1, close - 1));
  }
  return util::to_lower(rest.substr(0, rest.find(':')));
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "::1") return true;
  if (!util::starts_with(host, "127.")) return false;
  return std::all_of(host.begin(), host.end(),
                     [](char c) { return c == '.' || (c >= '0' && c <= '9'); });
}

// "" or an http(s) URL; http only for loopback. Returns an error message or "".
std::string check_url(std::string_view url, bool allow_plain_http_anywhere = false) {
  std::string scheme;
  std::string host = url_host(url, &scheme);
  if (host.empty()) return std::string("\"").append(url).append("\" is not an http(s) URL");
  if (scheme == "http" && !allow_plain_http_anywhere && !is_loopback_host(host))
    return "http:// is only allowed for loopback addresses (use https://)";
  return {};
}

// "HOST:PORT" (HOST a name, an IPv4 address or [IPv6]), as `run` accepts it; "" or an error
// message.
std::string check_listen(std::string_view addr) {
  auto colon = addr.rfind(':');
  if (colon == std::string_view::npos) return "expected HOST:PORT such as 127.0.0.1:9464";
  std::string_view host = addr.substr(0, colon);
  std::string_view port = addr.substr(colon + 1);
  if (host.empty() || host == "[]")
    return "has no host: write 127.0.0.1:PORT (this machine) or 0.0.0.0:PORT (every address)";
  if (host.find(':') != std::string_view::npos &&
      !(host.size() >= 2 && host.front() == '[' && host.back() == ']'))
    return "an IPv6 address must be written in brackets, e.g. [::1]:9464";
  auto p = detail::parse_integer(port);
  if (port.empty() ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) || !p ||
      *p > 65535)
    return "port must be a number between 0 and 65535";
  return {};
}

class ConfigReader {
 public:
  ConfigReader(Reader& reader, DaemonConfig& config) : m_r(reader), m_c(config) {}

  void read(const detail::YNode* root) {
    if (!root || root->IsNull()) return;
    static const std::vector<std::string> keys = config_key_names("");
    for (const auto& e : m_r.entries(root, nullptr, "config")) {
      if (std::find(keys.begin(), keys.end(), e.key) == keys.end()) {
        m_r.unknown_key(e, "the daemon config", keys);
        continue;
      }
      if (read_key(e)) m_c.keys_given.insert(e.key);
    }
  }

 private:
  bool read_key(const Entry& e) {
    const std::string& k = e.key;
    if (k == "account_id" || k == "node_name") {
      auto v = m_r.string(e, k);
      if (!v) return false;
      auto& slot = k == "account_id" ? m_c.account_id : m_c.node_name;
      if (v->empty())
        slot.reset();
      else
        slot = *v;
      return true;
    }
    if (k == "api_url") {
      auto v = m_r.string(e, k);
      if (!v) return false;
      if (auto why = check_url(*v); !why.empty()) return fail(e, k + ": " + why);
      m_c.api_url = *v;
      return true;
    }
    if (k == "api_token_file" || k == "manifest") {
      auto v = m_r.string(e, k);
      if (!v) return false;
      auto& slot = k == "manifest" ? m_c.manifest : m_c.api_token_file;
      if (v->empty())
        slot.reset();
      else
        slot = *v;
      return true;
    }
    if (k == "state_dir") {
      auto v = m_r.string(e, k);
      if (!v) return false;
      if (v->empty()) return fail(e, "state_dir: must not be empty");
      m_c.state_dir = *v;
      return true;
    }
    if (k == "mode") {
      auto v = m_r.one_of(e, k, {"apply", "observe"});
      if (v) m_c.mode = *v == "apply" ? DaemonConfig::Mode::apply : DaemonConfig::Mode::observe;
      return v.has_value();
    }
    if (k == "drift") {
      auto v = m_r.one_of(e, k, {"correct", "report"});
      if (v)
        m_c.drift = *v == "correct" ? DaemonConfig::Drift::correct : DaemonConfig::Drift::report;
      return v.has_value();
    }
    if (k == "notify_on") {
      auto v = m_r.one_of(e, k, {"changes", "all"});
      if (v)
        m_c.notify_on = *v == "all" ? DaemonConfig::NotifyOn::all : DaemonConfig::NotifyOn::changes;
      return v.has_value();
    }
    if (k == "log_level") {
      auto v = m_r.one_of(e, k, {"trace", "debug", "info", "warn", "error"});
      if (v) m_c.log_level = *v;
      return v.has_value();
    }
    if (k == "log_format") {
      auto v = m_r.one_of(e, k, {"text", "json"});
      if (v) m_c.log_format = *v;
      return v.has_value();
    }
    if (k == "reconcile_interval") {
      auto d = m_r.duration(e, k);
      if (!d) return false;
      if (*d < std::chrono::seconds(10)) return fail(e, k + ": must be at least 10s");
      m_c.reconcile_interval = *d;
      return true;
    }
    if (k == "http_timeout") {
      auto d = m_r.duration(e, k);
      if (!d) return false;
      if (d->count() <= 0) return fail(e, k + ": must be greater than 0");
      m_c.http_timeout = *d;
      return true;
    }
    if (k == "max_answer_size") {
      auto t = m_r.text(e, k);
      if (!t) return false;
      auto bytes = parse_byte_size(t->value);
      if (!bytes) return fail(e, k + ": " + bytes.error());
      if (*bytes < (1u << 20) || *bytes > (256u << 20))
        return fail(e, k + ": " + t->value + " is out of range (must be between 1MiB and 256MiB)");
      m_c.max_answer_size = *bytes;
      return true;
    }
    if (k == "reconcile_jitter") {
      auto t = m_r.text(e, k);
      if (!t) return false;
      auto f = util::parse_fraction(t->value);
      if (!f) return fail(e, k + ": " + f.error());
      m_c.reconcile_jitter = *f;
      return true;
    }
    if (k == "request_budget") {
      auto t = m_r.text(e, k);
      if (!t) return false;
      auto b = parse_request_budget(t->value);
      if (!b) return fail(e, k + ": " + b.error());
      m_c.request_budget = *b;
      return true;
    }
    if (k == "concurrency") {
      auto i = m_r.integer(e, k);
      if (!i) return false;
      if (*i < 1 || *i > 64)
        return fail(e,
                    k + ": " + std::to_string(*i) + " is out of range (must be between 1 and 64)");
      m_c.concurrency = static_cast<int>(*i);
      return true;
    }
    if (k == "listen") {
      auto v = m_r.string(e, k);
      if (!v) return false;
      if (!v->empty())
        if (auto why = check_listen(*v); !why.empty()) return fail(e, k + ": " + why);
      m_c.listen = *v;
      return true;
    }
    if (k == "notify_webhook") {
      auto v = m_r.string(e, k);
      if (!v) return false;
      if (!v->empty())
        if (auto why = check_url(*v, true); !why.empty()) return fail(e, k + ": " + why);
      m_c.notify_webhook = *v;
      return true;
    }
    if (k == "notify_secret") {
      auto v = m_r.string(e, k);
      if (!v) return false;
      m_c.notify_secret = *v;
      return true;
    }
    if (k == "state_backend") return read_state_backend(e);
    return false;
  }

  bool read_state_backend(const Entry& e) {
    static const std::vector<std::string> keys = config_key_names("state_backend");
    auto& b = m_c.state_backend;
    bool ok = true;
    for (const auto& f : m_r.entries(e.value, &e, "state_backend")) {
      const std::string name = "state_backend." + f.key;
      if (f.key == "type") {
        auto v = m_r.one_of(f, name, {"file", "etcd"});
        if (v)
          b.type = *v == "etcd" ? StateBackendConfig::Type::etcd : StateBackendConfig::Type::file;
        ok = ok && v;
      } else if (f.key == "endpoints") {
        auto list = m_r.string_list(f, name);
        if (!list) {
          ok = false;
          continue;
        }
        if (list->empty()) {
          ok = fail(f, name + ": must list at least one endpoint");
          continue;
        }
        for (const auto& url : *list)
          if (auto why = check_url(url); !why.empty()) ok = fail(f, name + ": " + why);
        if (ok) b.endpoints = *list;
      } else if (f.key == "prefix") {
        auto v = m_r.string(f, name);
        if (v && (v->empty() || v->front() != '/' || v->back() != '/')) {
          ok = fail(f, name + ": must start and end with '/' (e.g. /aisearchd/prod/)");
        } else if (v) {
          b.prefix = *v;
        } else {
          ok = false;
        }
      } else if (f.key == "lease_ttl") {
        auto d = m_r.duration(f, name);
        if (d && *d < std::chrono::seconds(3))
          ok = fail(f, name + ": must be at least 3s");
        else if (d)
          b.lease_ttl = *d;
        else
          ok = false;
      } else if (std::find(keys.begin(), keys.end(), f.key) != keys.end()) {
        auto v = m_r.string(f, name);
        if (!v) {
          ok = false;
          continue;
        }
        if (f.key == "ca_file")
          b.ca_file = *v;
        else if (f.key == "cert_file")
          b.cert_file = *v;
        else if (f.key == "key_file")
          b.key_file = *v;
        else if (f.key == "username")
          b.username = *v;
        else
          b.password_file = *v;
      } else {
        m_r.unknown_key(f, "state_backend", keys);
        ok = false;
      }
    }
    if (b.cert_file.empty() != b.key_file.empty()) {
      m_r.error(e.key_node->mark, "state_backend: cert_file and key_file go together");
      ok = false;
    }
    return ok;
  }

  bool fail(const Entry& e, std::string message) {
    m_r.error(e, std::move(message));
    return false;
  }

  Reader& m_r;
  DaemonConfig& m_c;
};

util::Result<DaemonConfig, std::vector<ManifestError>> load_text(std::string_view yaml,
                                                                 const std::string& filename,
                                                                 const util::EnvLookup& env) {
  std::vector<ManifestError> errors;
  DaemonConfig config;
  config.file = filename;
  try {
    detail::Diagnostics diag(errors);
    Reader reader(filename, env, diag);
    auto docs = reader.parse(yaml);
    if (docs.size() > 1) reader.error(docs[1]->mark, "the daemon config holds one YAML document");
    if (!docs.empty()) ConfigReader(reader, config).read(docs.front());
  } catch (const std::exception& e) {
    errors.push_back({{filename, 0, 0}, std::string("internal error: ") + e.what()});
  }
  if (!errors.empty()) {
    std::stable_sort(errors.begin(), errors.end(),
                     [](const ManifestError& a, const ManifestError& b) {
                       return std::make_pair(a.where.line, a.where.column) <
                              std::make_pair(b.where.line, b.where.column);
                     });
    return util::Err{std::move(errors)};
  }
  return config;
}

}  // namespace

util::Result<RequestBudget, std::string> parse_request_budget(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return util::Err{"invalid request budget \"" + std::string(text) + "\": " + why +
                     " (expected CALLS/PERIOD such as 600/5m)"};
  };
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return bad("no '/'");
  auto n = detail::parse_integer(util::trim(text.substr(0, slash)));
  if (!n || *n < 1 || *n > 1'000'000) return bad("the call count must be between 1 and 1000000");
  auto period = util::parse_duration(util::trim(text.substr(slash + 1)));
  if (!period) return bad(period.error());
  if (*period < std::chrono::seconds(1)) return bad("the period must be at least 1s");
  return RequestBudget{static_cast<int>(*n), *period};
}

util::Result<std::size_t, std::string> parse_byte_size(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return util::Err{"invalid size \"" + std::string(text) + "\": " + why +
                     " (expected a number of bytes or a size such as 8MiB)"};
  };
  const std::string t = util::trim(text);
  std::size_t digits = 0;
  while (digits < t.size() && t[digits] >= '0' && t[digits] <= '9') ++digits;
  if (digits == 0) return bad("no number");
  if (digits > 12) return bad("too large");
  auto n = detail::parse_integer(t.substr(0, digits));
  if (!n) return bad("no number");
  std::string unit(util::trim(t.substr(digits)));
  static const std::vector<std::pair<std::vector<std::string>, int>> units = {
      {{"", "B"}, 0}, {{"K", "KiB"}, 10}, {{"M", "MiB"}, 20}, {{"G", "GiB"}, 30}};
  for (const auto& [names, shift] : units)
    if (std::find(names.begin(), names.end(), unit) != names.end())
      return static_cast<std::size_t>(*n) << shift;
  return bad("unknown unit \"" + unit + "\"");
}

bool is_loopback_url(std::string_view url) {
  std::string host = url_host(url);
  return !host.empty() && is_loopback_host(host);
}

util::Result<DaemonConfig, std::vector<ManifestError>> load_config_string(
    std::string_view yaml, const std::string& filename, const util::EnvLookup& env) {
  return load_text(yaml, filename, env);
}

util::Result<DaemonConfig, std::vector<ManifestError>> load_config(
    const std::filesystem::path& path, const util::EnvLookup& env, bool must_exist) {
  const std::string shown = path.string();
  try {
    std::error_code ec;
    bool exists = std::filesystem::exists(path, ec);
    if (!exists && !ec && !must_exist) return DaemonConfig{};
    if (!exists) return util::Err{std::vector<ManifestError>{{{shown, 0, 0}, "no such file"}}};
    auto size = std::filesystem::file_size(path, ec);
    if (!ec && size > detail::k_max_input_bytes)
      return util::Err{std::vector<ManifestError>{{{shown, 0, 0}, "file too large"}}};
    auto text = util::read_file(path);
    if (!text)
      return util::Err{std::vector<ManifestError>{{{shown, 0, 0}, "cannot read: " + text.error()}}};
    return load_text(*text, shown, env);
  } catch (const std::exception& e) {
    return util::Err{
        std::vector<ManifestError>{{{shown, 0, 0}, std::string("cannot load: ") + e.what()}}};
  }
}

}  // namespace manifest
