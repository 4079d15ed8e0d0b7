#include "manifest/config.hpp"
#include "manifest/config_keys.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace {

util::EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::vector<std::string> config_errors(const std::string& yaml,
                                       const util::EnvLookup& env = env_of({})) {
  auto r = manifest::load_config_string(yaml, "c.yaml", env);
  std::vector<std::string> out;
  if (r) {
    ADD_FAILURE() << "expected errors, the config loaded";
    return out;
  }
  for (const auto& e : r.error()) out.push_back(e.to_string());
  return out;
}

}  // namespace

TEST(DaemonConfig, ShippedConfigValidatesWithNoEnvironmentAndHoldsTheDefaults) {
  auto r = manifest::load_config(std::filesystem::path(SOURCE_DIR) / "config" / "aisearchd.yaml",
                                 env_of({}));
  ASSERT_TRUE(r.ok()) << r.error().front().to_string();
  const auto& c = r.value();
  manifest::DaemonConfig d;
  EXPECT_FALSE(c.account_id.has_value());
  EXPECT_EQ(c.api_url, d.api_url);
  EXPECT_EQ(c.manifest, "/srv/gitops/ai-search");
  EXPECT_EQ(c.state_dir, d.state_dir);
  EXPECT_EQ(c.mode, d.mode);
  EXPECT_EQ(c.reconcile_interval, d.reconcile_interval);
  EXPECT_DOUBLE_EQ(c.reconcile_jitter, d.reconcile_jitter);
  EXPECT_EQ(c.drift, d.drift);
  EXPECT_EQ(c.request_budget.capacity, d.request_budget.capacity);
  EXPECT_EQ(c.request_budget.period, d.request_budget.period);
  EXPECT_EQ(c.concurrency, d.concurrency);
  EXPECT_EQ(c.http_timeout, d.http_timeout);
  EXPECT_EQ(c.listen, d.listen);
  EXPECT_EQ(c.notify_webhook, "");
  EXPECT_EQ(c.notify_on, d.notify_on);
  EXPECT_EQ(c.log_level, "info");
  EXPECT_EQ(c.log_format, "text");
  EXPECT_EQ(c.state_backend.type, manifest::StateBackendConfig::Type::file);
  EXPECT_TRUE(c.keys_given.count("state_dir"));
  EXPECT_FALSE(c.keys_given.count("node_name"));
}

TEST(DaemonConfig, TheHighAvailabilityExampleValidates) {
  auto r = manifest::load_config(
      std::filesystem::path(SOURCE_DIR) / "examples" / "ha" / "aisearchd.yaml",
      env_of({{"CLOUDFLARE_ACCOUNT_ID", "acc"}}), true);
  ASSERT_TRUE(r.ok()) << (r.ok() ? "" : r.error().front().to_string());
  const auto& b = r->state_backend;
  EXPECT_EQ(b.type, manifest::StateBackendConfig::Type::etcd);
  EXPECT_EQ(b.endpoints.size(), 3u);
  EXPECT_EQ(b.prefix, "/aisearchd/prod/");
  EXPECT_EQ(b.lease_ttl, std::chrono::seconds(15));
  EXPECT_EQ(b.cert_file, "/etc/aisearchd/etcd/client.pem");
}

TEST(DaemonConfig, DocumentedDefaults) {
  manifest::DaemonConfig d;
  EXPECT_EQ(d.api_url, "https://api.cloudflare.com/client/v4");
  EXPECT_EQ(d.state_dir, "/var/lib/aisearchd");
  EXPECT_EQ(d.mode, manifest::DaemonConfig::Mode::apply);
  EXPECT_EQ(d.reconcile_interval, std::chrono::minutes(5));
  EXPECT_DOUBLE_EQ(d.reconcile_jitter, 0.1);
  EXPECT_EQ(d.drift, manifest::DaemonConfig::Drift::correct);
  EXPECT_EQ(d.request_budget.capacity, 600);
  EXPECT_EQ(d.request_budget.period, std::chrono::minutes(5));
  EXPECT_EQ(d.concurrency, 8);
  EXPECT_EQ(d.http_timeout, std::chrono::seconds(30));
  EXPECT_EQ(d.listen, "127.0.0.1:9464");
  EXPECT_EQ(d.notify_on, manifest::DaemonConfig::NotifyOn::changes);
  EXPECT_EQ(d.state_backend.prefix, "/aisearchd/");
  EXPECT_EQ(d.state_backend.lease_ttl, std::chrono::seconds(15));
}

TEST(DaemonConfig, ReadsEveryKey) {
  auto r = manifest::load_config_string(R"(
account_id: ${ACCOUNT}
api_url: http://127.0.0.1:8787/client/v4
api_token_file: /run/secrets/token
manifest: /srv/ai
state_dir: /tmp/state
mode: observe
reconcile_interval: 1m
reconcile_jitter: 0.25
drift: report
request_budget: 100/1m
concurrency: 4
http_timeout: 5s
listen: ""
notify_webhook: https://hooks.example.com/x
notify_on: all
log_level: debug
log_format: json
state_backend:
  type: etcd
  endpoints: [https://etcd-1.example.com:2379, http://localhost:2379]
  prefix: /aisearchd/prod/
  lease_ttl: 10s
  ca_file: /etc/ca.pem
  cert_file: /etc/cert.pem
  key_file: /etc/key.pem
  username: aisearchd
  password_file: /etc/etcd-password
node_name: ${HOSTNAME:-node-a}
)",
                                        "c.yaml", env_of({{"ACCOUNT", "acc-1"}}));
  ASSERT_TRUE(r.ok()) << r.error().front().to_string();
  const auto& c = r.value();
  EXPECT_EQ(c.account_id, "acc-1");
  EXPECT_EQ(c.api_url, "http://127.0.0.1:8787/client/v4");
  EXPECT_EQ(c.api_token_file, "/run/secrets/token");
  EXPECT_EQ(c.manifest, "/srv/ai");
  EXPECT_EQ(c.state_dir, "/tmp/state");
  EXPECT_EQ(c.mode, manifest::DaemonConfig::Mode::observe);
  EXPECT_EQ(c.reconcile_interval, std::chrono::minutes(1));
  EXPECT_DOUBLE_EQ(c.reconcile_jitter, 0.25);
  EXPECT_EQ(c.drift, manifest::DaemonConfig::Drift::report);
  EXPECT_EQ(c.request_budget.capacity, 100);
  EXPECT_EQ(c.request_budget.period, std::chrono::minutes(1));
  EXPECT_EQ(c.concurrency, 4);
  EXPECT_EQ(c.http_timeout, std::chrono::seconds(5));
  EXPECT_EQ(c.listen, "");
  EXPECT_EQ(c.notify_webhook, "https://hooks.example.com/x");
  EXPECT_EQ(c.notify_on, manifest::DaemonConfig::NotifyOn::all);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.log_format, "json");
  EXPECT_EQ(c.state_backend.type, manifest::StateBackendConfig::Type::etcd);
  EXPECT_EQ(c.state_backend.endpoints.size(), 2u);
  EXPECT_EQ(c.state_backend.prefix, "/aisearchd/prod/");
  EXPECT_EQ(c.state_backend.lease_ttl, std::chrono::seconds(10));
  EXPECT_EQ(c.state_backend.ca_file, "/etc/ca.pem");
  EXPECT_EQ(c.state_backend.username, "aisearchd");
  EXPECT_EQ(c.state_backend.password_file, "/etc/etcd-password");
  EXPECT_EQ(c.node_name, "node-a");
  EXPECT_EQ(c.keys_given.size(), 19u);
  EXPECT_EQ(c.file, "c.yaml");
}

TEST(DaemonConfig, MissingDefaultFileIsNotAnErrorButANamedOneIs) {
  auto optional = manifest::load_config("/nonexistent/aisearchd.yaml", env_of({}), false);
  ASSERT_TRUE(optional.ok());
  EXPECT_FALSE(optional->file.has_value());
  EXPECT_EQ(optional->concurrency, 8);
  auto named = manifest::load_config("/nonexistent/aisearchd.yaml", env_of({}), true);
  ASSERT_FALSE(named.ok());
  EXPECT_EQ(named.error().front().to_string(), "/nonexistent/aisearchd.yaml: no such file");
}

TEST(DaemonConfig, EmptyFileIsTheDefaults) {
  auto r = manifest::load_config_string("# all defaults\n", "c.yaml", env_of({}));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->keys_given.empty());
}

TEST(DaemonConfig, StrictWithPositions) {
  auto errors = config_errors(R"(concurency: 8
api_url: http://api.example.com/client/v4
listen: localhost
request_budget: 600 per 5m
mode: apply
mode: observe
log_level: verbose
reconcile_interval: 1s
reconcile_jitter: 150%
account_id: ${CLOUDFLARE_ACCOUNT_ID}
state_backend:
  type: etcd
  prefix: aisearchd
  endpoints: [http://10.0.0.5:2379]
  lease_tl: 10s
concurrency: "8"
)");
  std::vector<std::string> want = {
      "c.yaml:1:1: unknown key \"concurency\" in the daemon config (did you mean \"concurrency\"?)",
      "c.yaml:2:10: api_url: http:// is only allowed for loopback addresses (use https://)",
      "c.yaml:3:9: listen: expected HOST:PORT such as 127.0.0.1:9464",
      "c.yaml:4:17: request_budget: invalid request budget \"600 per 5m\": no '/' (expected "
      "CALLS/PERIOD such as 600/5m)",
      "c.yaml:6:1: duplicate key \"mode\" (first at line 5, column 1)",
      "c.yaml:7:12: log_level: \"verbose\" is not one of: trace, debug, info, warn, error",
      "c.yaml:8:21: reconcile_interval: must be at least 10s",
      "c.yaml:9:19: reconcile_jitter: \"150%\" is not between 0 and 100%",
      "c.yaml:10:13: account_id: environment variable CLOUDFLARE_ACCOUNT_ID is not set (give a "
      "default with ${CLOUDFLARE_ACCOUNT_ID:-value})",
      "c.yaml:13:11: state_backend.prefix: must start and end with '/' (e.g. /aisearchd/prod/)",
      "c.yaml:14:14: state_backend.endpoints: http:// is only allowed for loopback addresses (use "
      "https://)",
      "c.yaml:15:3: unknown key \"lease_tl\" in state_backend (did you mean \"lease_ttl\"?)",
      "c.yaml:16:14: concurrency: expected an integer, got the string \"8\"",
  };
  ASSERT_EQ(errors.size(), want.size()) << [&] {
    std::string all;
    for (const auto& e : errors) all += e + "\n";
    return all;
  }();
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(errors[i], want[i]);
}

TEST(DaemonConfig, NulBytesAndInvalidUtf8AreErrorsWithTheirPosition) {
  // This input once sent the YAML parser into an endless loop.
  auto nul = config_errors(std::string("\n\0\0\0,\0\0\0\0er", 11));
  ASSERT_EQ(nul.size(), 1u);
  EXPECT_EQ(nul[0], "c.yaml:2:1: a NUL byte: the file must be UTF-8 text");
  auto bad = config_errors("log_level: \"\xc0\xaf\"\n");
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0], "c.yaml:1:13: invalid UTF-8 (byte 0xC0): the file must be UTF-8 text");
  auto surrogate = config_errors("log_level: \"\xed\xa0\x80\"\n");  // U+D800
  ASSERT_EQ(surrogate.size(), 1u);
  EXPECT_EQ(surrogate[0], "c.yaml:1:13: invalid UTF-8 (byte 0xED): the file must be UTF-8 text");
}

TEST(DaemonConfig, RequestBudget) {
  auto b = manifest::parse_request_budget("600/5m");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->capacity, 600);
  EXPECT_EQ(b->period, std::chrono::minutes(5));
  auto spaced = manifest::parse_request_budget("10 / 1s");
  ASSERT_TRUE(spaced.ok());
  EXPECT_EQ(spaced->capacity, 10);
  for (const char* bad :
       {"", "600", "0/5m", "-1/5m", "600/", "600/5", "600/0s", "x/5m", "600/5m/1"})
    EXPECT_FALSE(manifest::parse_request_budget(bad).ok()) << bad;
}

TEST(DaemonConfig, LoopbackUrls) {
  EXPECT_TRUE(manifest::is_loopback_url("http://127.0.0.1:8787/client/v4"));
  EXPECT_TRUE(manifest::is_loopback_url("http://localhost/x"));
  EXPECT_TRUE(manifest::is_loopback_url("http://[::1]:2379"));
  EXPECT_FALSE(manifest::is_loopback_url("http://127.example.com/"));
  EXPECT_FALSE(manifest::is_loopback_url("https://api.cloudflare.com/client/v4"));
  EXPECT_FALSE(manifest::is_loopback_url("localhost:80"));
}

TEST(DaemonConfig, MaxAnswerSizeTakesBinaryUnitsWithinItsRange) {
  auto r = manifest::load_config_string("max_answer_size: 16MiB\n", "c.yaml", env_of({}));
  ASSERT_TRUE(r.ok()) << r.error().front().to_string();
  EXPECT_EQ(r->max_answer_size, std::size_t{16} << 20);
  EXPECT_EQ(manifest::load_config_string("# defaults\n", "c.yaml", env_of({}))->max_answer_size,
            std::size_t{8} << 20);
  EXPECT_EQ(*manifest::parse_byte_size("2048K"), std::size_t{2} << 20);
  EXPECT_EQ(*manifest::parse_byte_size("1048576"), std::size_t{1} << 20);
  EXPECT_FALSE(manifest::parse_byte_size("8MB").ok()) << "decimal units are not guessed";
  EXPECT_FALSE(manifest::parse_byte_size("-1").ok());
  EXPECT_FALSE(manifest::parse_byte_size("99999999999999999999").ok());
  auto low = config_errors("max_answer_size: 100KiB\n");
  ASSERT_EQ(low.size(), 1u);
  EXPECT_NE(low[0].find("c.yaml:1:"), std::string::npos) << low[0];
  EXPECT_NE(low[0].find("between 1MiB and 256MiB"), std::string::npos) << low[0];
  EXPECT_EQ(config_errors("max_answer_size: lots\n").size(), 1u);
}

// aisearchd.yaml(5) is generated from the key table: each default it prints, written in a file,
// must give exactly the built-in default, and the reader must accept every key it names.
TEST(ConfigKeys, EachDocumentedDefaultIsTheBuiltInDefault) {
  int checked = 0;
  for (const auto& key : manifest::config_key_table()) {
    if (key.default_value.empty()) continue;
    std::string yaml;
    if (key.section.empty()) {
      yaml.append(key.name).append(": ").append(key.default_value).append("\n");
    } else {
      yaml.append(key.section).append(":\n  ").append(key.name).append(": ");
      yaml.append(key.default_value).append("\n");
    }
    auto r = manifest::load_config_string(yaml, "c.yaml", env_of({}));
    ASSERT_TRUE(r.ok()) << yaml << r.error().front().to_string();
    auto c = r.value();
    c.keys_given.clear();
    c.file.reset();
    EXPECT_TRUE(c == manifest::DaemonConfig{}) << "the documented default of " << key.name << " ("
                                               << key.default_value << ") is not the built-in one";
    ++checked;
  }
  EXPECT_GE(checked, 20);
}

TEST(ConfigKeys, TheReaderAcceptsEveryKeyOfTheTableAndTheShippedConfigNamesThemAll) {
  std::ifstream in(std::filesystem::path(SOURCE_DIR) / "config" / "aisearchd.yaml");
  std::stringstream shipped;
  shipped << in.rdbuf();
  for (const auto& key : manifest::config_key_table()) {
    EXPECT_NE(shipped.str().find(key.name + ":"), std::string::npos)
        << key.name << " is not in config/aisearchd.yaml";
    const auto names = manifest::config_key_names(key.section);
    EXPECT_NE(std::find(names.begin(), names.end(), key.name), names.end());
  }
  // A key outside the table is refused, with the table's closest name as the hint.
  auto errors = config_errors("reconcile_intervall: 5m\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors.front().find("reconcile_interval"), std::string::npos) << errors.front();
}
