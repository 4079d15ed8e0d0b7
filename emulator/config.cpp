#include "config.hpp"

#include <cctype>

#include "util/duration.hpp"
#include "util/strings.hpp"

namespace emulator {

std::string to_string(FaultKind kind) {
  switch (kind) {
    case FaultKind::Http500:
      return "500";
    case FaultKind::Http503:
      return "503";
    case FaultKind::Http429:
      return "429";
    case FaultKind::Reset:
      return "reset";
    case FaultKind::Timeout:
      return "timeout";
    case FaultKind::Truncate:
      return "truncate";
    case FaultKind::Short:
      return "short";
    case FaultKind::Lost:
      return "lost";
  }
  return "?";
}

util::Result<std::vector<FaultKind>, std::string> parse_faults(const std::string& text) {
  std::vector<FaultKind> kinds;
  for (const auto& raw : util::split(text, ',')) {
    std::string part = util::to_lower(util::trim(raw));
    if (part.empty()) continue;
    if (part == "500") {
      kinds.push_back(FaultKind::Http500);
    } else if (part == "503") {
      kinds.push_back(FaultKind::Http503);
    } else if (part == "429") {
      kinds.push_back(FaultKind::Http429);
    } else if (part == "reset") {
      kinds.push_back(FaultKind::Reset);
    } else if (part == "timeout") {
      kinds.push_back(FaultKind::Timeout);
    } else if (part == "truncate") {
      kinds.push_back(FaultKind::Truncate);
    } else if (part == "short") {
      kinds.push_back(FaultKind::Short);
    } else if (part == "lost") {
      kinds.push_back(FaultKind::Lost);
    } else {
      return util::Err("unknown fault kind '" + part +
                       "' (expected 500, 503, 429, reset, timeout, truncate, short, lost)");
    }
  }
  return kinds;
}

util::Result<RateLimit, std::string> parse_rate_limit(const std::string& text) {
  std::string t = util::trim(text);
  if (t.empty() || t == "off" || t == "0") return RateLimit{};
  auto slash = t.find('/');
  if (slash == std::string::npos) return util::Err("rate limit must be N/SECONDS, got '" + t + "'");
  std::string count = t.substr(0, slash);
  std::string window = t.substr(slash + 1);
  RateLimit limit;
  try {
    std::size_t used = 0;
    long n = std::stol(count, &used);
    if (used != count.size() || n < 0 || n > 1000000000) throw std::invalid_argument("count");
    limit.requests = static_cast<int>(n);
  } catch (const std::exception&) {
    return util::Err("rate limit count must be a non-negative integer, got '" + count + "'");
  }
  bool all_digits = !window.empty() && window.find_first_not_of("0123456789") == std::string::npos;
  if (all_digits) {
    if (window.size() > 9) return util::Err("rate limit window too long: '" + window + "'");
    limit.window = std::chrono::seconds(std::stol(window));
  } else {
    auto d = util::parse_duration(window);
    if (!d) return util::Err("rate limit window: " + d.error());
    limit.window = *d;
  }
  if (limit.requests > 0 && limit.window.count() <= 0) {
    return util::Err("rate limit window must be positive");
  }
  return limit;
}

std::string format_rate_limit(const RateLimit& limit) {
  if (limit.requests <= 0) return "off";
  return std::to_string(limit.requests) + "/" + util::format_duration(limit.window);
}

util::Result<JobOutcome, std::string> parse_job_outcome(const std::string& text) {
  std::string t = util::to_lower(util::trim(text));
  if (t == "ok") return JobOutcome::Ok;
  if (t == "fail") return JobOutcome::Fail;
  if (t == "stall") return JobOutcome::Stall;
  return util::Err("job outcome must be ok, fail or stall, got '" + text + "'");
}

std::string to_string(JobOutcome outcome) {
  switch (outcome) {
    case JobOutcome::Ok:
      return "ok";
    case JobOutcome::Fail:
      return "fail";
    case JobOutcome::Stall:
      return "stall";
  }
  return "?";
}

nlohmann::json config_to_json(const Config& config) {
  nlohmann::json faults = nlohmann::json::array();
  for (auto k : config.faults) faults.push_back(to_string(k));
  nlohmann::json outcomes = nlohmann::json::object();
  for (const auto& [key, outcome] : config.job_outcomes) outcomes[key] = to_string(outcome);
  return {{"account_id", config.account_id},
          {"user", config.user},
          {"latency_ms", config.latency.count()},
          {"fault_rate", config.fault_rate},
          {"faults", faults},
          {"timeout_hold_ms", config.timeout_hold.count()},
          {"fault_path", config.fault_path},
          {"fault_methods", config.fault_methods},
          {"rate_limit", format_rate_limit(config.rate_limit)},
          {"job_duration_ms", config.job_duration.count()},
          {"job_outcome", to_string(config.job_outcome)},
          {"job_cooldown_ms", config.job_cooldown.count()},
          {"job_outcomes", outcomes},
          {"unset_job_fields", config.unset_job_fields == UnsetJobFields::Null ? "null" : "omit"},
          {"clock", config.manual_clock ? "manual" : "wall"},
          {"seed", config.seed}};
}

namespace {

util::Result<std::chrono::milliseconds, std::string> ms_value(const nlohmann::json& v,
                                                              const std::string& key) {
  if (v.is_number_integer() && v.get<long long>() >= 0) {
    return std::chrono::milliseconds(v.get<long long>());
  }
  if (v.is_string()) {
    auto d = util::parse_duration(v.get<std::string>());
    if (d) return *d;
    return util::Err(key + ": " + d.error());
  }
  return util::Err(key + ": expected a non-negative integer (milliseconds) or a duration");
}

}  // namespace

util::Result<void, std::string> apply_config_patch(Config& config, const nlohmann::json& patch) {
  if (!patch.is_object()) return util::Err(std::string("config must be a JSON object"));
  Config next = config;
  for (const auto& [key, v] : patch.items()) {
    if (key == "latency_ms" || key == "job_duration_ms" || key == "job_cooldown_ms" ||
        key == "timeout_hold_ms") {
      auto ms = ms_value(v, key);
      if (!ms) return util::Err(ms.error());
      if (key == "latency_ms") next.latency = *ms;
      if (key == "job_duration_ms") next.job_duration = *ms;
      if (key == "job_cooldown_ms") next.job_cooldown = *ms;
      if (key == "timeout_hold_ms") next.timeout_hold = *ms;
    } else if (key == "fault_rate") {
      if (!v.is_number() || v.get<double>() < 0.0 || v.get<double>() > 1.0) {
        return util::Err(std::string("fault_rate: expected a number between 0 and 1"));
      }
      next.fault_rate = v.get<double>();
    } else if (key == "faults") {
      std::string text;
      if (v.is_string()) {
        text = v.get<std::string>();
      } else if (v.is_array()) {
        for (const auto& item : v) {
          if (!item.is_string() && !item.is_number_integer()) {
            return util::Err(std::string("faults: expected strings"));
          }
          text += (item.is_string() ? item.get<std::string>() : std::to_string(item.get<int>()));
          text += ",";
        }
      } else {
        return util::Err(std::string("faults: expected a list or a comma-separated string"));
      }
      auto kinds = parse_faults(text);
      if (!kinds) return util::Err("faults: " + kinds.error());
      next.faults = *kinds;
    } else if (key == "fault_path") {
      if (!v.is_string()) return util::Err(std::string("fault_path: expected a string"));
      next.fault_path = v.get<std::string>();
    } else if (key == "fault_methods") {
      std::vector<std::string> methods;
      if (v.is_string()) {
        for (const auto& raw : util::split(v.get<std::string>(), ',')) {
          if (!util::trim(raw).empty()) methods.push_back(util::trim(raw));
        }
      } else if (v.is_array()) {
        for (const auto& item : v) {
          if (!item.is_string()) return util::Err(std::string("fault_methods: expected strings"));
          methods.push_back(item.get<std::string>());
        }
      } else if (!v.is_null()) {
        return util::Err(std::string("fault_methods: expected a list of methods"));
      }
      for (auto& method : methods) {
        for (auto& ch : method)
          ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        if (method != "GET" && method != "POST" && method != "PUT" && method != "PATCH" &&
            method != "DELETE") {
          return util::Err("fault_methods: unknown method '" + method + "'");
        }
      }
      next.fault_methods = std::move(methods);
    } else if (key == "rate_limit") {
      if (!v.is_string() && !v.is_null()) {
        return util::Err(std::string("rate_limit: expected \"N/SECONDS\" or \"off\""));
      }
      auto limit = parse_rate_limit(v.is_null() ? "" : v.get<std::string>());
      if (!limit) return util::Err("rate_limit: " + limit.error());
      next.rate_limit = *limit;
    } else if (key == "job_outcome") {
      if (!v.is_string()) return util::Err(std::string("job_outcome: expected a string"));
      auto outcome = parse_job_outcome(v.get<std::string>());
      if (!outcome) return util::Err("job_outcome: " + outcome.error());
      next.job_outcome = *outcome;
    } else if (key == "job_outcomes") {
      if (!v.is_object()) return util::Err(std::string("job_outcomes: expected an object"));
      for (const auto& [instance, o] : v.items()) {
        if (o.is_null()) {
          next.job_outcomes.erase(instance);
          continue;
        }
        if (!o.is_string()) return util::Err("job_outcomes." + instance + ": expected a string");
        auto outcome = parse_job_outcome(o.get<std::string>());
        if (!outcome) return util::Err("job_outcomes." + instance + ": " + outcome.error());
        next.job_outcomes[instance] = *outcome;
      }
    } else if (key == "unset_job_fields") {
      if (v == "null") {
        next.unset_job_fields = UnsetJobFields::Null;
      } else if (v == "omit") {
        next.unset_job_fields = UnsetJobFields::Omit;
      } else {
        return util::Err(std::string("unset_job_fields: expected \"null\" or \"omit\""));
      }
    } else if (key == "clock") {
      if (v == "manual") {
        next.manual_clock = true;
      } else if (v == "wall") {
        next.manual_clock = false;
      } else {
        return util::Err(std::string("clock: expected \"wall\" or \"manual\""));
      }
    } else if (key == "user") {
      if (!v.is_string()) return util::Err(std::string("user: expected a string"));
      next.user = v.get<std::string>();
    } else if (key == "account_id") {
      if (!v.is_string()) return util::Err(std::string("account_id: expected a string"));
      next.account_id = v.get<std::string>();
    } else if (key == "seed") {
      if (!v.is_number_unsigned()) return util::Err(std::string("seed: expected an integer"));
      next.seed = v.get<std::uint64_t>();
    } else {
      return util::Err("unknown config key '" + key + "'");
    }
  }
  config = std::move(next);
  return {};
}

}  // namespace emulator
