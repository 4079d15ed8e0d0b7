#pragma once

#include <filesystem>
#include <string>

#include "util/result.hpp"

namespace util {

// Reads a whole file. Fails with "<path>: <strerror>".
Result<std::string, std::string> read_file(const std::filesystem::path& path);

// Replaces `path` atomically: writes a temporary file beside it, fsyncs it, renames it over
// `path`, then fsyncs the directory. A reader (or a crash at any moment) sees either the old or
// the new content, never a mix. `mode` is the new file's permission bits.
Result<void, std::string> write_file_atomic(const std::filesystem::path& path,
                                            const std::string& content, unsigned mode = 0600);

}  // namespace util
