#include "api/token.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace {

namespace fs = std::filesystem;

struct TempDir {
  TempDir() {
    path = fs::temp_directory_path() /
           ("aisearchd-token-test-" +
            std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path path;
};

void write(const fs::path& p, const std::string& content) {
  std::ofstream(p, std::ios::binary) << content;
}

util::EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ResolveToken, EnvironmentWinsThenFileThenCredential) {
  TempDir dir;
  write(dir.path / "token", "from-file\n");
  write(dir.path / "cloudflare-api-token", "from-credential\n");
  const std::string cred = dir.path.string();
  const std::string file = (dir.path / "token").string();

  EXPECT_EQ(api::resolve_token(file, env_of({{"CLOUDFLARE_API_TOKEN", "from-env"},
                                             {"CREDENTIALS_DIRECTORY", cred}}))
                .value(),
            "from-env");
  EXPECT_EQ(api::resolve_token(file, env_of({{"CREDENTIALS_DIRECTORY", cred}})).value(),
            "from-file");
  EXPECT_EQ(api::resolve_token("", env_of({{"CREDENTIALS_DIRECTORY", cred}})).value(),
            "from-credential");
}

TEST(ResolveToken, TrailingSpaceTrimmedAndEmptyMeansNotFound) {
  TempDir dir;
  write(dir.path / "token", "   \n\n");
  write(dir.path / "cloudflare-api-token", "cred-token \r\n");
  const auto env =
      env_of({{"CLOUDFLARE_API_TOKEN", ""}, {"CREDENTIALS_DIRECTORY", dir.path.string()}});
  EXPECT_EQ(api::resolve_token((dir.path / "token").string(), env).value(), "cred-token");
}

TEST(ResolveToken, NothingFoundSaysWhereItLooked) {
  auto r = api::resolve_token("", env_of({}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("CLOUDFLARE_API_TOKEN"), std::string::npos) << r.error();
  EXPECT_NE(r.error().find("api_token_file"), std::string::npos) << r.error();
}

TEST(ResolveToken, AMissingCredentialFileIsNotFoundNotAnError) {
  TempDir dir;
  auto r = api::resolve_token("", env_of({{"CREDENTIALS_DIRECTORY", dir.path.string()}}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("no API token"), std::string::npos) << r.error();
}

TEST(ResolveToken, AnUnreadableNamedFileIsAnErrorNamingTheFile) {
  TempDir dir;
  const auto missing = (dir.path / "absent-token").string();
  auto r = api::resolve_token(missing, env_of({}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find(missing), std::string::npos) << r.error();

  // A directory where the file should be cannot be read, even by root.
  fs::create_directories(dir.path / "token-dir");
  auto d = api::resolve_token((dir.path / "token-dir").string(), env_of({}));
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().find("token-dir"), std::string::npos) << d.error();

  // The environment still wins over a broken file.
  EXPECT_TRUE(api::resolve_token(missing, env_of({{"CLOUDFLARE_API_TOKEN", "t"}})).ok());
}

TEST(ResolveToken, AnUnreadableCredentialIsAnErrorNamingIt) {
  TempDir dir;
  // A credential that exists but cannot be read stops the search.
  fs::create_directories(dir.path / "cloudflare-api-token");
  auto r = api::resolve_token("", env_of({{"CREDENTIALS_DIRECTORY", dir.path.string()}}));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("cloudflare-api-token"), std::string::npos) << r.error();
}

}  // namespace
