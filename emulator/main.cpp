// aisearch-emulator: a local stand-in for the Cloudflare AI Search REST API (see README.md).
#include <pthread.h>
#include <signal.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
// GCC 12 reports a false -Wmaybe-uninitialized inside <regex> (pulled in by cxxopts) when
// building with sanitizers.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <cxxopts.hpp>
#pragma GCC diagnostic pop

#include <cstdio>
#include <iostream>
#include <thread>

#include "config.hpp"
#include "server.hpp"
#include "util/duration.hpp"

namespace {

// "3s", "500ms", "1m" (util durations); a bare number is milliseconds.
util::Result<std::chrono::milliseconds, std::string> parse_ms(const std::string& text) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos &&
      text.size() < 12) {
    return std::chrono::milliseconds(std::stoll(text));
  }
  return util::parse_duration(text);
}

int run(int argc, char** argv) {
  cxxopts::Options options("aisearch-emulator",
                           "A local emulator of the Cloudflare AI Search REST API");
  // clang-format off
  options.add_options()
    ("host", "address to listen on", cxxopts::value<std::string>()->default_value("127.0.0.1"))
    ("port", "port to listen on (0 = any free port)", cxxopts::value<int>()->default_value("0"))
    ("token", "the API token clients must send as Bearer", cxxopts::value<std::string>()->default_value("test-token"))
    ("account-id", "the account id served (\"*\" accepts any)", cxxopts::value<std::string>()->default_value("test-account"))
    ("user", "the token's user (created_by / modified_by)", cxxopts::value<std::string>()->default_value("emulator@example.com"))
    ("state-file", "load state from FILE at start, save it on exit", cxxopts::value<std::string>())
    ("latency-ms", "added latency per API request", cxxopts::value<long long>()->default_value("0"))
    ("fault-rate", "probability (0..1) of an injected fault per API request", cxxopts::value<double>()->default_value("0"))
    ("faults", "fault kinds to draw from", cxxopts::value<std::string>()->default_value("500,503,reset,timeout,truncate"))
    ("timeout-hold", "how long a 'timeout' fault holds a request", cxxopts::value<std::string>()->default_value("60s"))
    ("rate-limit", "global limit N/SECONDS (e.g. 1200/300); off by default", cxxopts::value<std::string>()->default_value("off"))
    ("job-duration", "how long a simulated sync job runs", cxxopts::value<std::string>()->default_value("3s"))
    ("job-outcome", "ok | fail | stall", cxxopts::value<std::string>()->default_value("ok"))
    ("job-cooldown", "cooldown after a job ends (429 code 7020)", cxxopts::value<std::string>()->default_value("30s"))
    ("job-unset-fields", "null | omit: how unset job fields are answered", cxxopts::value<std::string>()->default_value("null"))
    ("clock", "wall | manual: manual time stands still except for POST /__emulator/clock/advance", cxxopts::value<std::string>()->default_value("wall"))
    ("seed", "seed for faults and generated ids", cxxopts::value<std::uint64_t>()->default_value("1"))
    ("h,help", "show this help");
  // clang-format on
  cxxopts::ParseResult args;
  try {
    args = options.parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "aisearch-emulator: " << e.what() << "\n";
    return 2;
  }
  if (args.count("help")) {
    std::cout << options.help() << "\n";
    return 0;
  }

  auto logger = spdlog::stderr_color_mt("emulator");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  emulator::Config config;
  config.token = args["token"].as<std::string>();
  config.account_id = args["account-id"].as<std::string>();
  config.user = args["user"].as<std::string>();
  config.latency = std::chrono::milliseconds(std::max(0LL, args["latency-ms"].as<long long>()));
  config.fault_rate = args["fault-rate"].as<double>();
  config.seed = args["seed"].as<std::uint64_t>();
  auto fail = [&](const std::string& message) {
    logger->error("{}", message);
    return 2;
  };
  if (config.fault_rate < 0.0 || config.fault_rate > 1.0) return fail("--fault-rate: 0..1");
  auto faults = emulator::parse_faults(args["faults"].as<std::string>());
  if (!faults) return fail("--faults: " + faults.error());
  config.faults = *faults;
  auto limit = emulator::parse_rate_limit(args["rate-limit"].as<std::string>());
  if (!limit) return fail("--rate-limit: " + limit.error());
  config.rate_limit = *limit;
  for (auto [flag, target] : {std::pair{"job-duration", &config.job_duration},
                              std::pair{"job-cooldown", &config.job_cooldown},
                              std::pair{"timeout-hold", &config.timeout_hold}}) {
    auto d = parse_ms(args[flag].as<std::string>());
    if (!d) return fail(std::string("--") + flag + ": " + d.error());
    *target = *d;
  }
  auto outcome = emulator::parse_job_outcome(args["job-outcome"].as<std::string>());
  if (!outcome) return fail("--job-outcome: " + outcome.error());
  config.job_outcome = *outcome;
  const auto unset = args["job-unset-fields"].as<std::string>();
  if (unset != "null" && unset != "omit") return fail("--job-unset-fields: null or omit");
  config.unset_job_fields =
      unset == "null" ? emulator::UnsetJobFields::Null : emulator::UnsetJobFields::Omit;

  const auto clock = args["clock"].as<std::string>();
  if (clock != "wall" && clock != "manual") return fail("--clock: wall or manual");
  config.manual_clock = clock == "manual";

  std::optional<std::filesystem::path> state_file;
  if (args.count("state-file")) state_file = args["state-file"].as<std::string>();

  // Signals are taken by sigwait below; every thread started from here on inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  emulator::Server server(config, state_file);
  if (auto loaded = server.load_state(); !loaded) return fail("--state-file: " + loaded.error());
  const std::string host = args["host"].as<std::string>();
  auto port = server.bind(host, args["port"].as<int>());
  if (!port) return fail(port.error());

  std::thread serving([&] { server.run(); });
  std::printf("listening on http://%s:%d\n", host.c_str(), *port);
  std::fflush(stdout);
  logger->info("aisearch-emulator listening on http://{}:{} (account {})", host, *port,
               config.account_id);

  int sig = 0;
  sigwait(&signals, &sig);
  logger->info("signal {}: stopping", sig);
  server.stop();
  serving.join();
  if (auto saved = server.save_state(); !saved) {
    logger->error("saving state: {}", saved.error());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aisearch-emulator: %s\n", e.what());
    return 1;
  }
}
