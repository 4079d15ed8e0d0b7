#include "cli/cli.hpp"

#include <cxxopts.hpp>
#include <iostream>

#include "aisearchd_version.hpp"

namespace cli {

int run(int argc, char** argv) {
  try {
    cxxopts::Options options("aisearchd", "Keeps Cloudflare AI Search instances equal to a manifest");
    options.add_options()("version", "print the version")("h,help", "print this help");
    auto result = options.parse(argc, argv);
    if (result.count("version")) {
      std::cout << "aisearchd " << util::k_version << "\n";
      return 0;
    }
    std::cout << options.help() << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "aisearchd: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace cli
