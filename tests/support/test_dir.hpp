#pragma once

#include <filesystem>
#include <string>

namespace support {

// A fresh, empty directory for the running test: <tmp>/<prefix>-<pid>-<test name> (removed first
// if a previous run left it behind). The caller removes it when done.
std::filesystem::path fresh_test_dir(const std::string& prefix);

}  // namespace support
