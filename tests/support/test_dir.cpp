#include "support/test_dir.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

namespace support {

std::filesystem::path fresh_test_dir(const std::string& prefix) {
  namespace fs = std::filesystem;
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir = fs::temp_directory_path() / (prefix + "-" + std::to_string(::getpid()) + "-" +
                                              (test ? test->name() : "no-test"));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

}  // namespace support
