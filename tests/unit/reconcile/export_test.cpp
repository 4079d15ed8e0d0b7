#include "reconcile/export.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "fixture.hpp"
#include "manifest/emit.hpp"
#include "manifest/loader.hpp"

namespace reconcile {
namespace {

using nlohmann::json;
using reconcile_fixture::observed_with;

// A list item as the emulator answers it: every field, server defaults filled in.
json list_item(const std::string& ns, const std::string& id, const json& set) {
  json f = {{"id", id},
            {"namespace", ns},
            {"status", "ready"},
            {"enable", true},
            {"paused", false},
            {"engine_version", 2},
            {"vectorize_name", "ai-search-" + id},
            {"public_endpoint_id", "abc123"},
            {"ai_search_model", "@cf/meta/llama-3.3-70b-instruct-fp8-fast"},
            {"embedding_model", "@cf/baai/bge-m3"},
            {"rewrite_model", "@cf/meta/llama-3.3-70b-instruct-fp8-fast"},
            {"reranking_model", "@cf/baai/bge-reranker-base"},
            {"reranking", false},
            {"rewrite_query", false},
            {"hybrid_search_enabled", true},
            {"index_method", {{"keyword", true}, {"vector", true}}},
            {"indexing_options", {{"keyword_tokenizer", "porter"}, {"use_ocr", false}}},
            {"chunk", true},
            {"chunk_size", 256},
            {"chunk_overlap", 10},
            {"max_num_results", 10},
            {"score_threshold", 0.4},
            {"fusion_method", "rrf"},
            {"cache", true},
            {"cache_threshold", "close_enough"},
            {"cache_ttl", 172800},
            {"sync_interval", 21600},
            {"summarization", false},
            {"summarization_model", nullptr},
            {"system_prompt_ai_search", nullptr},
            {"token_id", nullptr},
            {"custom_metadata", nullptr},
            {"metadata", nullptr},
            {"retrieval_options", nullptr},
            {"source_params", nullptr},
            {"public_endpoint_params", nullptr},
            {"ai_gateway_id", nullptr},
            {"created_at", "2026-01-01T00:00:00Z"},
            {"modified_at", "2026-01-01T00:00:00Z"},
            {"created_by", "alice@example.com"},
            {"modified_by", "alice@example.com"}};
  for (const auto& [k, v] : set.items()) f[k] = v;
  return f;
}

api::Instance item(const std::string& ns, const std::string& id, const json& set) {
  api::Instance i;
  i.id = id;
  i.ns = ns;
  i.raw = list_item(ns, id, set);
  return i;
}

const json& instance_of(const ExportedManifest& e, const std::string& ns, const std::string& id) {
  return e.document.at("namespaces").at(ns).at("instances").at(id);
}

TEST(Export, OnlyWhatDiffersFromTheServerDefaults) {
  auto o = observed_with(
      {item("default", "docs",
            {{"type", "r2"},
             {"source", "docs-bucket"},
             {"token_id", "2c5a0b7e-1111-2222-3333-444455556666"},
             {"chunk_size", 512},
             {"score_threshold", 0.4},
             {"fusion_method", "RRF"},
             {"indexing_options", {{"keyword_tokenizer", "trigram"}, {"use_ocr", false}}},
             {"account_tag", "x"},
             {"internal_id", "y"}})});
  auto e = export_manifest(o, {"default"});
  ASSERT_TRUE(e.ok()) << e.error();
  EXPECT_EQ(instance_of(*e, "default", "docs"),
            (json{{"type", "r2"},
                  {"source", "docs-bucket"},
                  {"chunk_size", 512},
                  {"indexing_options", {{"keyword_tokenizer", "trigram"}}}}));
  EXPECT_TRUE(e->left_out.empty());
  EXPECT_TRUE(e->unknown_fields.empty());  // account_tag, internal_id: added by the server
  EXPECT_EQ(e->document["apiVersion"], "aisearchd/v1");
  EXPECT_EQ(e->instances, 1u);
}

TEST(Export, BlankSourceIsManagedAndIndexMethodHidesHybrid) {
  auto o = observed_with({item("default", "uploads",
                               {{"source", ""},
                                {"type", nullptr},
                                {"hybrid_search_enabled", false},
                                {"index_method", {{"keyword", false}, {"vector", true}}}})});
  auto e = export_manifest(o, {"default"});
  ASSERT_TRUE(e.ok()) << e.error();
  EXPECT_EQ(instance_of(*e, "default", "uploads"),
            (json{{"managed", true}, {"index_method", {{"keyword", false}, {"vector", true}}}}));
}

TEST(Export, FailedPartialOrMissingListsExportNothing) {
  auto o = observed_with({item("team-a", "kb", {{"source", "https://example.com"}})}, {"team-b"});
  o.listings["team-b"].error = "list failed: short page";
  auto e = export_manifest(o, {"team-a", "team-b", "gone"});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().find("team-b: list failed: short page"), std::string::npos) << e.error();
  EXPECT_NE(e.error().find("gone: not listed"), std::string::npos) << e.error();

  o.listings["team-b"].error.reset();
  o.listings["team-b"].exists = false;
  auto missing = export_manifest(o, {"team-b"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("team-b: no such namespace"), std::string::npos);

  reconcile::Observed failed;
  failed.namespaces_error = "HTTP 500";
  ASSERT_FALSE(export_manifest(failed, {}).ok());
}

TEST(Export, OddValuesAreLeftOutWithAReasonNeverTheValue) {
  json deep = "end";
  for (int i = 0; i < 200; ++i) deep = json{{"d", std::move(deep)}};
  auto o = observed_with({item("default", "odd",
                               {{"source", "https://example.com"},
                                {"type", "web-crawler"},
                                {"chunk_size", "big-secret-ish"},  // wrong kind
                                {"max_num_results", 500},          // out of range
                                {"cache_ttl", 601},                // not an allowed value
                                {"chunk_overlap", 20.0},           // integral: an integer
                                {"future_field", deep},            // unknown top level
                                {"source_params",
                                 {{"web_crawler",
                                   {{"future", deep},           // unknown nested
                                    {"parse_type", "SITEMAP"},  // default, any case
                                    {"parse_options", {{"include_headers", {{"X-Key", 5}}}}}}}}}}),
                          item("default", "Bad Id", {{"source", "bucket-x"}})});
  auto e = export_manifest(o, {"default"});
  ASSERT_TRUE(e.ok()) << e.error();
  EXPECT_EQ(
      instance_of(*e, "default", "odd"),
      (json{{"source", "https://example.com"}, {"type", "web-crawler"}, {"chunk_overlap", 20}}));
  EXPECT_TRUE(instance_of(*e, "default", "odd")["chunk_overlap"].is_number_integer());
  const std::vector<std::string> expected = {
      "default/odd: cache_ttl: not one of the values the API allows",
      "default/odd: chunk_size: expected an integer",
      "default/odd: max_num_results: out of range",
      "default/odd: source_params.web_crawler.future: not a field the manifest knows",
      "default/odd: source_params.web_crawler.parse_options.include_headers: holds a value that "
      "is not a string",
      "default/Bad Id: a manifest cannot declare this id"};
  std::vector<std::string> got = e->left_out;
  std::sort(got.begin(), got.end());
  std::vector<std::string> want = expected;
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  for (const auto& line : e->left_out) EXPECT_EQ(line.find("big-secret-ish"), std::string::npos);
  EXPECT_EQ(e->unknown_fields, std::vector<std::string>{"future_field"});
  // The whole document still writes as YAML.
  EXPECT_TRUE(manifest::emit_yaml(e->document).ok());
}

TEST(Export, SecretsAreNamedNamespacesSortedDescriptionsKept) {
  auto o = observed_with(
      {item("team-a", "kb",
            {{"source", "https://example.com"},
             {"source_params",
              {{"web_crawler",
                {{"parse_options", {{"include_headers", {{"Authorization", "x"}}}}}}}}}}),
       item("team-a", "a-first", {{"source", "bucket-a"}})},
      {"team-b"});
  o.namespaces["team-a"].description = "Team A";
  o.namespaces["team-b"].description = "";
  auto e = export_manifest(o, {"team-b", "team-a", "default"});
  ASSERT_TRUE(e.ok()) << e.error();
  const json& ns = e->document["namespaces"];
  std::vector<std::string> names;
  for (const auto& [k, v] : ns.items()) names.push_back(k);
  EXPECT_EQ(names, (std::vector<std::string>{"default", "team-a", "team-b"}));
  EXPECT_EQ(ns["team-a"]["description"], "Team A");
  EXPECT_EQ(ns["team-b"], json::object());
  EXPECT_EQ(ns["default"], json::object());
  EXPECT_EQ(e->secrets, std::vector<std::string>{
                            "team-a/kb: source_params.web_crawler.parse_options.include_headers"});
  EXPECT_EQ(e->namespaces, 3u);
  EXPECT_EQ(e->instances, 2u);
}

// What a user does with an export: write it, load it, plan it with no state. Every instance is
// adopted and nothing else happens (no create, update, replace or namespace change).
TEST(Export, ThePlanOfAnExportAdoptsOnly) {
  auto o = observed_with(
      {item("default", "docs",
            {{"type", "r2"},
             {"source", "docs-bucket"},
             {"chunk_size", 512},
             {"score_threshold", 0.55},
             {"custom_metadata", {{{"field_name", "lang"}, {"data_type", "text"}}}},
             {"retrieval_options",
              {{"boost_by", {{{"field", "ts"}, {"direction", "desc"}, {"dataType", "x"}}}},
               {"keyword_match_mode", "or"}}},
             {"system_prompt_ai_search", "say ${HOME} \"quoted\"\nü ✓"}}),
       item("team-a", "kb",
            {{"type", "web-crawler"},
             {"source", "https://support.example.com"},
             {"cache", false},
             {"public_endpoint_params",
              {{"enabled", true},
               {"rate_limit", {{"period_ms", 60000}, {"requests", 10}, {"technique", "fixed"}}}}},
             {"source_params",
              {{"web_crawler",
                {{"parse_options", {{"include_headers", {{"X-Api-Key", "s3cr3t $x"}}}}}}}}}}),
       item("team-a", "uploads", {{"source", nullptr}, {"type", nullptr}, {"paused", true}})},
      {"team-b"});
  o.namespaces["team-a"].description = "Team A: ünïcode, $5";
  auto e = export_manifest(o, {"default", "team-a", "team-b"});
  ASSERT_TRUE(e.ok()) << e.error();
  auto yaml = manifest::emit_yaml(e->document, {"header"});
  ASSERT_TRUE(yaml.ok()) << yaml.error();
  const util::EnvLookup no_env = [](const std::string&) { return std::optional<std::string>(); };
  auto m = manifest::load_manifest_string(*yaml, "export.yaml", no_env);
  ASSERT_TRUE(m.ok()) << m.error().front().to_string() << "\n" << *yaml;
  auto plan = diff(*m, o, state::State{});
  std::vector<std::string> adopted;
  for (const auto& c : plan.changes) {
    EXPECT_EQ(c.action, Action::adopt) << c.address() << "\n" << *yaml;
    adopted.push_back(c.address());
  }
  EXPECT_EQ(adopted, (std::vector<std::string>{"default/docs", "team-a/kb", "team-a/uploads"}));
  EXPECT_TRUE(plan.skipped_namespaces.empty());
  EXPECT_TRUE(plan.unmanaged.empty());
}

}  // namespace
}  // namespace reconcile
