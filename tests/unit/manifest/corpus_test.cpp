// Runs every file and directory of tests/data/manifests/invalid/ (each must fail with exactly the
// errors of its .expected sibling) and every manifest under examples/ (each must load).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "manifest/loader.hpp"
#include "util/strings.hpp"

namespace fs = std::filesystem;

namespace {

std::optional<std::string> test_env(const std::string& name) {
  if (name == "SET_VAR") return std::string("value");
  return std::nullopt;
}

// One line of a .expected file: "[FILE:]LINE:COLUMN: TEXT", where TEXT must appear in the
// message ("..." inside TEXT stands for any text, e.g. a path that depends on the checkout).
struct Expected {
  std::string file;  // relative to the case directory; "" for a single-file case
  int line = 0;
  int column = 0;
  std::string text;
};

std::vector<Expected> read_expected(const fs::path& path) {
  std::ifstream in(path);
  std::vector<Expected> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto sep = line.find(": ");
    EXPECT_NE(sep, std::string::npos) << path << ": " << line;
    if (sep == std::string::npos) continue;
    auto where = util::split(line.substr(0, sep), ':');
    Expected e;
    if (where.size() == 3) e.file = where[0];
    e.line = std::stoi(where[where.size() - 2]);
    e.column = std::stoi(where.back());
    e.text = line.substr(sep + 2);
    out.push_back(std::move(e));
  }
  return out;
}

bool contains_in_order(const std::string& message, const std::string& pattern) {
  std::size_t pos = 0;
  for (const auto& part : [&] {
         std::vector<std::string> parts;
         std::size_t start = 0;
         while (true) {
           auto dots = pattern.find("...", start);
           parts.push_back(pattern.substr(start, dots == std::string::npos ? dots : dots - start));
           if (dots == std::string::npos) break;
           start = dots + 3;
         }
         return parts;
       }()) {
    auto found = message.find(part, pos);
    if (found == std::string::npos) return false;
    pos = found + part.size();
  }
  return true;
}

std::vector<fs::path> invalid_cases() {
  std::vector<fs::path> cases;
  for (const auto& entry :
       fs::directory_iterator(fs::path(TEST_DATA_DIR) / "manifests" / "invalid"))
    if (entry.path().extension() != ".expected") cases.push_back(entry.path());
  std::sort(cases.begin(), cases.end());
  return cases;
}

}  // namespace

TEST(InvalidManifestCorpus, HasAtLeastThirtyCasesEachWithExpectations) {
  auto cases = invalid_cases();
  EXPECT_GE(cases.size(), 30u);
  for (const auto& c : cases) {
    fs::path expected = c;
    expected.replace_extension(".expected");
    if (fs::is_directory(c)) expected = c.string() + ".expected";
    EXPECT_TRUE(fs::exists(expected)) << c;
  }
}

TEST(InvalidManifestCorpus, EveryCaseFailsWithItsExpectedErrors) {
  for (const auto& c : invalid_cases()) {
    SCOPED_TRACE(c.filename().string());
    fs::path expected_path = fs::is_directory(c) ? fs::path(c.string() + ".expected")
                                                 : fs::path(c).replace_extension(".expected");
    auto expected = read_expected(expected_path);
    ASSERT_FALSE(expected.empty()) << expected_path;
    auto r = manifest::load_manifest(c, test_env);
    ASSERT_FALSE(r.ok()) << "loaded without errors";
    const auto& errors = r.error();
    std::string all;
    for (const auto& e : errors) all += "  " + e.to_string() + "\n";
    ASSERT_EQ(errors.size(), expected.size()) << "errors:\n" << all;
    for (std::size_t i = 0; i < expected.size(); ++i) {
      const auto& want = expected[i];
      const auto& got = errors[i];
      fs::path want_file = want.file.empty() ? c : c / want.file;
      EXPECT_EQ(got.where.file, want_file.string()) << all;
      EXPECT_EQ(got.where.line, want.line) << got.to_string();
      EXPECT_EQ(got.where.column, want.column) << got.to_string();
      EXPECT_TRUE(contains_in_order(got.message, want.text))
          << "message: " << got.message << "\nwanted:  " << want.text;
    }
  }
}

TEST(Examples, EveryExampleManifestLoads) {
  const fs::path examples = fs::path(SOURCE_DIR) / "examples";
  std::vector<fs::path> manifests;
  for (const auto& entry : fs::recursive_directory_iterator(examples)) {
    if (!entry.is_regular_file()) continue;
    auto ext = entry.path().extension();
    if (ext != ".yaml" && ext != ".yml") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    if (text.str().find("apiVersion: aisearchd/v1") == std::string::npos) continue;  // CI files
    manifests.push_back(entry.path());
  }
  EXPECT_GE(manifests.size(), 5u);
  for (const auto& path : manifests) {
    auto r = manifest::load_manifest(path, [](const std::string&) { return std::nullopt; });
    std::string all;
    if (!r)
      for (const auto& e : r.error()) all += e.to_string() + "\n";
    EXPECT_TRUE(r.ok()) << path << "\n" << all;
  }
  // The directory example as a whole (files merged).
  auto dir = manifest::load_manifest(examples / "multi-namespace",
                                     [](const std::string&) { return std::nullopt; });
  ASSERT_TRUE(dir.ok());
  EXPECT_GE(dir->namespaces.size(), 3u);
  EXPECT_GE(dir->files.size(), 3u);
  auto demo = manifest::load_manifest(examples / "demo" / "aisearch.yaml",
                                      [](const std::string&) { return std::nullopt; });
  ASSERT_TRUE(demo.ok());
  EXPECT_GE(demo->namespaces.size(), 2u);
  for (const auto& [name, ns] : demo->namespaces)
    for (const auto& [id, inst] : ns.instances)
      if (inst.sync) {
        EXPECT_TRUE(inst.sync->every.has_value()) << inst.address();
      }
}
