#include "daemon/status.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "manifest/loader.hpp"
#include "util/time_format.hpp"

namespace {

using namespace std::chrono_literals;

util::EnvLookup no_env() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

manifest::Manifest load(const std::string& yaml) {
  auto m = manifest::load_manifest_string(yaml, "m.yaml", no_env());
  if (!m) {
    std::string all;
    for (const auto& e : m.error()) all += e.to_string() + "\n";
    ADD_FAILURE() << all;
    return {};
  }
  return *m;
}

const char* k_manifest = R"(apiVersion: aisearchd/v1
namespaces:
  default:
    instances:
      docs:
        type: r2
        source: docs-bucket
        sync:
          every: 6h
          max_staleness: 26h
      fresh:
        type: r2
        source: other-bucket
)";

TEST(Status, OneRowPerManifestOrOwnedInstanceWithFreshnessAndNextDue) {
  auto m = load(k_manifest);
  const auto now = *util::parse_rfc3339("2026-03-01T12:00:00Z");
  state::State st;
  st.owned["default/docs"] = {
      "default", "docs", true, "2026-01-01T00:00:00Z", {}, {{"chunk_size", "x"}}};
  st.owned["default/gone"] = {"default", "gone", false, "2026-01-01T00:00:00Z", {}, {}};
  auto& sync = st.sync["default/docs"];
  sync.last_slot = "2026-03-01T06:00:00Z";
  sync.last_success = "2026-02-28T12:00:00Z";  // 24 h ago
  state::JobRecord rec;
  rec.job_id = "j1";
  rec.outcome = "failed";
  sync.history.push_back(rec);

  auto rows = service::instances_status(&m, st, now);
  ASSERT_EQ(rows.size(), 3u);
  const auto& docs = rows[0];
  EXPECT_EQ(docs["address"], "default/docs");
  EXPECT_EQ(docs["owned"], true);
  EXPECT_EQ(docs["in_manifest"], true);
  EXPECT_EQ(docs["protect"], true);
  EXPECT_EQ(docs["last_outcome"], "failed");
  EXPECT_EQ(docs["last_job_id"], "j1");
  EXPECT_EQ(docs["last_success"], "2026-02-28T12:00:00Z");
  EXPECT_DOUBLE_EQ(docs["freshness_seconds"].get<double>(), 86400.0);
  EXPECT_DOUBLE_EQ(docs["max_staleness_seconds"].get<double>(), 26 * 3600.0);
  EXPECT_EQ(docs["healthy"], true);
  EXPECT_EQ(docs["next_due"], "2026-03-01T12:00:00.000Z");  // the 6 h slot after 06:00
  EXPECT_EQ(docs["unstable"], nlohmann::json::array({"chunk_size"}));

  EXPECT_EQ(rows[1]["address"], "default/fresh");
  EXPECT_EQ(rows[1]["owned"], false);
  EXPECT_TRUE(rows[1]["next_due"].is_null());
  EXPECT_TRUE(rows[1]["freshness_seconds"].is_null());
  EXPECT_TRUE(rows[1]["last_outcome"].is_null());

  EXPECT_EQ(rows[2]["address"], "default/gone");  // owned, no longer in the manifest
  EXPECT_EQ(rows[2]["in_manifest"], false);
}

TEST(Status, PastMaxStalenessIsUnhealthy) {
  auto m = load(k_manifest);
  const auto now = *util::parse_rfc3339("2026-03-02T15:00:00Z");
  state::State st;
  st.sync["default/docs"].last_success = "2026-03-01T12:00:00Z";  // 27 h ago
  auto rows = service::instances_status(&m, st, now);
  EXPECT_EQ(rows[0]["healthy"], false);
}

TEST(Status, NoManifestListsOwnedOnly) {
  state::State st;
  st.owned["a/b"] = {"a", "b", false, "", {}, {}};
  auto rows = service::instances_status(nullptr, st, std::chrono::system_clock::now());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["namespace"], "a");
  EXPECT_EQ(rows[0]["id"], "b");
}

}  // namespace
