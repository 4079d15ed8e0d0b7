#include "cli/settings.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "aisearchd_version.hpp"
#include "api/budget.hpp"
#include "api/token.hpp"
#include "daemon/log_format.hpp"
#include "http/curl_transport.hpp"
#include "http/transport.hpp"
#include "manifest/loader.hpp"

namespace cli {

util::Result<Settings, std::vector<std::string>> resolve_settings(const Options& options,
                                                                  const util::EnvLookup& env) {
  Settings s;
  bool named = options.config.has_value();
  std::string path = options.config.value_or(manifest::k_default_config_path);
  auto config = manifest::load_config(path, env, named);
  if (!config) {
    std::vector<std::string> lines;
    for (const auto& e : config.error()) lines.push_back(e.to_string());
    return util::Err(lines);
  }
  s.config = std::move(*config);
  auto& c = s.config;
  if (options.api_url) c.api_url = *options.api_url;
  if (options.listen) c.listen = *options.listen;
  if (options.log_level) c.log_level = *options.log_level;
  if (options.log_format) c.log_format = *options.log_format;
  std::vector<std::string> errors;
  if (c.log_level != "trace" && c.log_level != "debug" && c.log_level != "info" &&
      c.log_level != "warn" && c.log_level != "error")
    errors.push_back("--log-level: \"" + c.log_level +
                     "\" is not one of trace, debug, info, warn, error");
  if (c.log_format != "text" && c.log_format != "json")
    errors.push_back("--log-format: \"" + c.log_format + "\" is not one of text, json");
  if (options.output != "text" && options.output != "json" && options.output != "markdown")
    errors.push_back("--output: \"" + options.output + "\" is not one of text, json, markdown");
  if (!errors.empty()) return util::Err(errors);

  s.manifest_path = options.manifest.value_or(c.manifest.value_or(""));
  s.manifest_from_config = !options.manifest && c.manifest && c.file;
  s.account_id = options.account_id.value_or(c.account_id.value_or(""));
  if (s.account_id.empty()) s.account_id = env("CLOUDFLARE_ACCOUNT_ID").value_or("");
  if (options.state_dir) {
    s.state_dir = *options.state_dir;
  } else if (c.keys_given.count("state_dir")) {
    s.state_dir = c.state_dir;
  } else {
    auto from_systemd = env("STATE_DIRECTORY");
    // systemd may pass several, colon-separated: the first is ours.
    s.state_dir = from_systemd && !from_systemd->empty()
                      ? from_systemd->substr(0, from_systemd->find(':'))
                      : c.state_dir;
  }
  s.dry_run = options.dry_run;
  return s;
}

util::Result<manifest::Manifest, std::vector<std::string>> load_manifest(
    const Settings& settings, const util::EnvLookup& env) {
  if (settings.manifest_path.empty())
    return util::Err(std::vector<std::string>{
        "no manifest: give -m/--manifest PATH or set `manifest:` in the config file"});
  auto m = manifest::load_manifest(settings.manifest_path, env);
  if (!m) {
    std::vector<std::string> lines;
    auto errors = m.error();
    if (settings.manifest_from_config)
      manifest::attribute_manifest_path(errors, settings.manifest_path, *settings.config.file);
    for (const auto& e : errors) lines.push_back(e.to_string());
    return util::Err(lines);
  }
  return std::move(*m);
}

std::string account_id(const Settings& settings, const manifest::Manifest* manifest) {
  if (!settings.account_id.empty()) return settings.account_id;
  if (manifest && manifest->account_id) return *manifest->account_id;
  return {};
}

util::Result<std::shared_ptr<api::Client>, std::string> make_client(const Settings& settings,
                                                                    const std::string& account,
                                                                    const util::EnvLookup& env) {
  api::ClientConfig cc;
  cc.api_url = settings.config.api_url;
  cc.account_id = account;
  cc.http_timeout = settings.config.http_timeout;
  cc.concurrency = settings.config.concurrency;
  cc.max_answer_bytes = settings.config.max_answer_size;
  cc.budget.capacity = settings.config.request_budget.capacity;
  cc.budget.period = settings.config.request_budget.period;
  // With a node name configured (high availability), requests say which node sent them.
  if (settings.config.node_name) cc.user_agent_suffix = *settings.config.node_name;
  if (account.empty())
    return util::Err(std::string(
        "no account id: give --account-id, set account_id in the config or the manifest, or "
        "$CLOUDFLARE_ACCOUNT_ID"));
  auto token = api::resolve_token(settings.config.api_token_file.value_or(""), env);
  if (!token) return util::Err(token.error());
  cc.token = std::move(*token);
  auto checked = api::Client::check_config(cc);
  if (!checked) return util::Err(checked.error());
  http::CurlOptions co;
  co.user_agent = std::string("aisearchd/") + util::k_version;
  co.max_body_bytes = settings.config.max_answer_size;
  auto transport = http::make_curl_transport(co);
  return std::make_shared<api::Client>(std::move(cc), std::move(transport),
                                       std::make_shared<util::SystemClock>());
}

void setup_logging(const std::string& level, const std::string& format,
                   const util::EnvLookup& env) {
  // Called again when one invocation runs a command more than once (sync --target A --target B).
  spdlog::drop("aisearchd");
  auto logger = spdlog::stderr_color_mt("aisearchd");
  spdlog::set_default_logger(logger);
  bool journald = env("JOURNAL_STREAM").has_value();
  if (format == "json") {
    service::use_json_log_format(journald);  // escapes the message
  } else {
    service::use_text_log_format(journald);
  }
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace cli
