// libFuzzer target: the manifest loader and the daemon config loader on arbitrary bytes. They
// must never crash, hang, throw or report an error without a position in the named file.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "manifest/config.hpp"
#include "manifest/loader.hpp"

namespace {

std::optional<std::string> fuzz_env(const std::string& name) {
  if (name == "SET") return std::string("512");
  if (name == "EMPTY") return std::string();
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto m = manifest::load_manifest_string(text, "fuzz.yaml", fuzz_env);
  if (!m) {
    for (const auto& e : m.error())
      if (e.where.file != "fuzz.yaml" || e.message.empty()) std::abort();
  }
  auto c = manifest::load_config_string(text, "fuzz.yaml", fuzz_env);
  if (!c) {
    for (const auto& e : c.error())
      if (e.where.file != "fuzz.yaml" || e.message.empty()) std::abort();
  }
  return 0;
}
