// Issue 17, item 1: a CI plan against the daemon's real ownership. The daemon's state lives in
// etcd; CI holds a user that may only read the state prefix (etcd RBAC). `plan` with that user
// sees what aisearchd owns, so a removed owned instance plans as a delete (exit 2 with
// --detailed-exitcode); `apply` with it fails cleanly before any API write (it cannot take the
// lock); `plan --require-state` with a prefix that holds no state fails (exit 1).
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "support/emulator_process.hpp"
#include "support/etcd_process.hpp"

namespace {

using nlohmann::json;

std::string base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -6;
  for (unsigned char c : in) {
    val = (val << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(k[(val >> bits) & 0x3F]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(k[((val << 8) >> (bits + 8)) & 0x3F]);
  while (out.size() % 4) out.push_back('=');
  return out;
}

// One call of etcd's JSON gateway; fails the test on an error answer.
json etcd_call(const support::EtcdProcess& etcd, const std::string& path, const json& body,
               const std::string& token = "") {
  httplib::Client c("127.0.0.1", etcd.client_port());
  c.set_read_timeout(30, 0);
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", token);
  auto r = c.Post(path, headers, body.dump(), "application/json");
  EXPECT_TRUE(r) << path;
  if (!r) return json();
  EXPECT_EQ(r->status, 200) << path << ": " << r->body;
  return json::parse(r->body, nullptr, false);
}

struct Run {
  int code;
  std::string out;
};

Run run(const std::string& command) {
  std::random_device rd;
  const auto out =
      std::filesystem::temp_directory_path() / ("aisearchd-ro-" + std::to_string(rd()));
  const int status = std::system((command + " > " + out.string() + " 2>&1").c_str());
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  std::filesystem::remove(out);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ss.str()};
}

int writes(const support::EmulatorProcess& emulator) {
  int n = 0;
  for (const auto& r : emulator.control("GET", "requests"))
    if (r.value("method", "") != "GET") ++n;
  return n;
}

TEST(EtcdReadOnlyUser, PlansTheRealDeletesAndCannotApply) {
  support::EtcdProcess etcd;
  support::EmulatorProcess emulator;
  std::random_device rd;
  const auto dir =
      std::filesystem::temp_directory_path() / ("aisearchd-readonly-" + std::to_string(rd()));
  std::filesystem::create_directories(dir);
  const std::string prefix = "/aisearchd/prod/";

  // RBAC: root (full), ci (read on the prefix only), then auth on.
  etcd_call(etcd, "/v3/auth/user/add", {{"name", "root"}, {"password", "root-pw"}});
  etcd_call(etcd, "/v3/auth/role/add", {{"name", "root"}});
  etcd_call(etcd, "/v3/auth/user/grant", {{"user", "root"}, {"role", "root"}});
  etcd_call(etcd, "/v3/auth/role/add", {{"name", "reader"}});
  std::string end = prefix;
  end.back() = static_cast<char>(end.back() + 1);
  etcd_call(
      etcd, "/v3/auth/role/grant",
      {{"name", "reader"},
       {"perm", {{"permType", "READ"}, {"key", base64(prefix)}, {"range_end", base64(end)}}}});
  etcd_call(etcd, "/v3/auth/user/add", {{"name", "ci"}, {"password", "ci-pw"}});
  etcd_call(etcd, "/v3/auth/user/grant", {{"user", "ci"}, {"role", "reader"}});
  etcd_call(etcd, "/v3/auth/enable", json::object());

  const auto write_file = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
  };
  write_file("root.pw", "root-pw\n");
  write_file("ci.pw", "ci-pw\n");
  const auto config = [&](const std::string& user, const std::string& p) {
    return "api_url: " + emulator.base_url() +
           "\naccount_id: " + support::EmulatorProcess::k_account +
           "\nstate_dir: " + (dir / "state").string() +
           "\nnode_name: it\nstate_backend:\n  type: etcd\n  endpoints: [" + etcd.endpoint() +
           "]\n  prefix: " + p + "\n  username: " + user +
           "\n  password_file: " + (dir / (user + ".pw")).string() + "\n";
  };
  write_file("daemon.yaml", config("root", prefix));
  write_file("ci.yaml", config("ci", prefix));
  write_file("ci-empty.yaml", config("ci", prefix + "staging/"));
  const std::string both =
      "apiVersion: aisearchd/v1\nnamespaces:\n  default:\n    prune: true\n    instances:\n"
      "      docs: { type: r2, source: docs-bucket }\n"
      "      notes: { type: r2, source: notes-bucket }\n";
  const std::string one =
      "apiVersion: aisearchd/v1\nnamespaces:\n  default:\n    prune: true\n    instances:\n"
      "      docs: { type: r2, source: docs-bucket }\n";
  write_file("both.yaml", both);
  write_file("one.yaml", one);
  const std::string env = std::string("CLOUDFLARE_API_TOKEN=") + support::EmulatorProcess::k_token +
                          " NO_COLOR=1 " + AISEARCHD_BIN;

  // The daemon's machine applies with full rights: state in etcd owns both.
  auto applied = run(env + " -c " + (dir / "daemon.yaml").string() + " -m " +
                     (dir / "both.yaml").string() + " apply");
  ASSERT_EQ(applied.code, 0) << applied.out;

  // CI, read-only: notes left the manifest; the plan shows its delete.
  auto plan = run(env + " -c " + (dir / "ci.yaml").string() + " -m " + (dir / "one.yaml").string() +
                  " plan --detailed-exitcode --require-state");
  EXPECT_EQ(plan.code, 2) << plan.out;
  EXPECT_NE(plan.out.find("- default/notes will be deleted"), std::string::npos) << plan.out;
  EXPECT_EQ(plan.out.find("Ownership unknown"), std::string::npos) << plan.out;

  // apply with the read-only user: refused before any API write, state untouched.
  const int writes_before = writes(emulator);
  auto apply = run(env + " -c " + (dir / "ci.yaml").string() + " -m " +
                   (dir / "one.yaml").string() + " apply");
  EXPECT_EQ(apply.code, 1) << apply.out;
  EXPECT_NE(apply.out.find("permission denied"), std::string::npos) << apply.out;
  EXPECT_EQ(writes(emulator), writes_before) << apply.out;
  auto again = run(env + " -c " + (dir / "ci.yaml").string() + " -m " +
                   (dir / "one.yaml").string() + " plan --detailed-exitcode");
  EXPECT_EQ(again.code, 2) << again.out;
  EXPECT_NE(again.out.find("- default/notes will be deleted"), std::string::npos) << again.out;

  // status with the read-only user reads the real ownership too.
  auto status = run(env + " -c " + (dir / "ci.yaml").string() + " -m " +
                    (dir / "one.yaml").string() + " status -o json");
  ASSERT_EQ(status.code, 0) << status.out;
  const auto rows = json::parse(status.out.substr(status.out.find('{')), nullptr, false);
  ASSERT_TRUE(rows.is_object()) << status.out;
  std::map<std::string, bool> owned;
  for (const auto& i : rows["instances"]) owned[i.value("address", "")] = i.value("owned", false);
  EXPECT_TRUE(owned["default/docs"]) << status.out;
  EXPECT_TRUE(owned["default/notes"]) << "an owned instance that left the manifest is listed";

  // A prefix that holds no state: --require-state fails, naming where it looked.
  auto empty = run(env + " -c " + (dir / "ci-empty.yaml").string() + " -m " +
                   (dir / "one.yaml").string() + " plan --require-state");
  EXPECT_EQ(empty.code, 1) << empty.out;
  EXPECT_NE(empty.out.find("/aisearchd/prod/staging/state"), std::string::npos) << empty.out;
  EXPECT_NE(empty.out.find("records no instance"), std::string::npos) << empty.out;
  std::filesystem::remove_all(dir);
}

}  // namespace
