#include "manifest/emit.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>
#include <string>

#include "manifest/loader.hpp"

using nlohmann::json;

namespace {

const util::EnvLookup k_no_env = [](const std::string&) { return std::optional<std::string>(); };

// A document with one namespace and one instance holding `fields`.
json doc(const json& fields, const json& ns_extra = json::object()) {
  json ns = ns_extra;
  ns["instances"] = {{"docs", fields}};
  return {{"apiVersion", "aisearchd/v1"}, {"namespaces", {{"team-a", ns}}}};
}

manifest::Manifest load_back(const std::string& yaml) {
  auto r = manifest::load_manifest_string(yaml, "export.yaml", k_no_env);
  if (!r) {
    std::string all;
    for (const auto& e : r.error()) all += e.to_string() + "\n";
    ADD_FAILURE() << "the emitted YAML does not load:\n" << all << "\n" << yaml;
    return {};
  }
  return std::move(r.value());
}

// Strings that read as something else, or break YAML, when written plain: each must come back
// exactly, as a header value (include_headers is a free-form map: any key, string values).
TEST(EmitYaml, OddStringsReadBackExactly) {
  const std::vector<std::string> odd = {"",
                                        "true",
                                        "False",
                                        "yes",
                                        "no",
                                        "on",
                                        "off",
                                        "y",
                                        "null",
                                        "~",
                                        "123",
                                        "-1",
                                        "0x1F",
                                        "0o17",
                                        "1e5",
                                        ".inf",
                                        "-.nan",
                                        "1.5",
                                        "@cf/baai/bge-m3",
                                        "a: b",
                                        "# not a comment",
                                        "- item",
                                        "[x]",
                                        "{y}",
                                        "*alias",
                                        "&anchor",
                                        "!tag",
                                        "|",
                                        ">",
                                        "'single'",
                                        "\"double\"",
                                        " leading",
                                        "trailing ",
                                        "tab\there",
                                        "line\nbreak",
                                        "cr\rhere",
                                        "bell\x07",
                                        "del\x7f",
                                        "ünïcode ✓ 日本語 🙂",
                                        "nel\xc2\x85",
                                        "ls\xe2\x80\xa8",
                                        "bom\xef\xbb\xbf",
                                        "${HOME}",
                                        "$$",
                                        "cost $5",
                                        "%percent",
                                        "`tick`",
                                        "back\\slash",
                                        "?q",
                                        ",comma",
                                        "a #b"};
  json headers = json::object();
  for (std::size_t i = 0; i < odd.size(); ++i) headers["k" + std::to_string(i)] = odd[i];
  // Keys are arbitrary too.
  headers["X-Api-Key: weird #key"] = "v";
  headers["ключ"] = "значение";
  headers["true"] = "t";
  json fields = {
      {"type", "web-crawler"},
      {"source", "https://example.com"},
      {"source_params", {{"web_crawler", {{"parse_options", {{"include_headers", headers}}}}}}}};
  // include_headers holds at most 5 entries in a manifest: check the values in slices.
  const json& all = fields["source_params"]["web_crawler"]["parse_options"]["include_headers"];
  std::vector<std::pair<std::string, json>> items;
  for (const auto& [key, value] : all.items()) items.emplace_back(key, value);
  for (std::size_t start = 0; start < items.size(); start += 5) {
    json slice = json::object();
    for (std::size_t i = start; i < std::min(items.size(), start + 5); ++i)
      slice[items[i].first] = items[i].second;
    json f = fields;
    f["source_params"]["web_crawler"]["parse_options"]["include_headers"] = slice;
    auto yaml = manifest::emit_yaml(doc(f));
    ASSERT_TRUE(yaml.ok()) << yaml.error();
    auto m = load_back(*yaml);
    ASSERT_EQ(m.namespaces.count("team-a"), 1u) << *yaml;
    EXPECT_EQ(m.namespaces.at("team-a").instances.at("docs").fields, f) << *yaml;
  }
}

TEST(EmitYaml, DollarsAreDoubledInValuesNotInKeys) {
  json fields = {
      {"type", "r2"}, {"source", "docs-bucket"}, {"system_prompt_ai_search", "${HOME} $x"}};
  auto yaml = manifest::emit_yaml(doc(fields, {{"description", "costs $5"}}));
  ASSERT_TRUE(yaml.ok()) << yaml.error();
  EXPECT_NE(yaml->find("$${HOME} $$x"), std::string::npos) << *yaml;
  auto m = load_back(*yaml);
  EXPECT_EQ(m.namespaces.at("team-a").description, "costs $5");
  EXPECT_EQ(m.namespaces.at("team-a").instances.at("docs").fields["system_prompt_ai_search"],
            "${HOME} $x");
}

TEST(EmitYaml, NumbersReadBackAsTheSameNumbers) {
  for (double v : {0.4, 0.1, 0.55, 1.0, 0.0, 1e-7, 0.30000000000000004, 0.9999999999999999}) {
    json fields = {{"type", "r2"},
                   {"source", "docs-bucket"},
                   {"score_threshold", v},
                   {"chunk_size", 512},
                   {"cache_ttl", 600}};
    auto yaml = manifest::emit_yaml(doc(fields));
    ASSERT_TRUE(yaml.ok()) << yaml.error();
    auto m = load_back(*yaml);
    const json& back = m.namespaces.at("team-a").instances.at("docs").fields;
    EXPECT_EQ(back["score_threshold"].get<double>(), v) << *yaml;
    EXPECT_EQ(back["chunk_size"], 512);
  }
}

TEST(EmitYaml, KeysSortedPlainWhereSafeCommentsFirst) {
  json fields = {{"type", "r2"}, {"source", "docs-bucket"}, {"chunk_size", 512}};
  auto yaml = manifest::emit_yaml(doc(fields), {"first line", "second\nline"});
  ASSERT_TRUE(yaml.ok()) << yaml.error();
  EXPECT_EQ(*yaml,
            "# first line\n"
            "# second?line\n"
            "apiVersion: aisearchd/v1\n"
            "namespaces:\n"
            "  team-a:\n"
            "    instances:\n"
            "      docs:\n"
            "        chunk_size: 512\n"
            "        source: docs-bucket\n"
            "        type: r2\n");
}

TEST(EmitYaml, EmptyObjectsAndListsAreFlow) {
  auto yaml = manifest::emit_yaml(
      {{"apiVersion", "aisearchd/v1"}, {"namespaces", {{"team-b", json::object()}}}});
  ASSERT_TRUE(yaml.ok()) << yaml.error();
  EXPECT_NE(yaml->find("team-b: {}"), std::string::npos) << *yaml;
  auto m = load_back(*yaml);
  EXPECT_EQ(m.namespaces.count("team-b"), 1u);
}

TEST(EmitYaml, TooDeepOrInvalidUtf8IsAnErrorNotACrash) {
  json deep = "end";
  for (int i = 0; i < 10'000; ++i) deep = json{{"d", std::move(deep)}};
  auto yaml = manifest::emit_yaml(deep);
  ASSERT_FALSE(yaml.ok());
  EXPECT_NE(yaml.error().find("nested deeper than"), std::string::npos) << yaml.error();

  auto bad = manifest::emit_yaml(json{{"key", std::string("bad \xff byte")}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("not valid UTF-8"), std::string::npos) << bad.error();
  auto bad_key = manifest::emit_yaml(json{{std::string("k\xc3"), "v"}});
  ASSERT_FALSE(bad_key.ok());
}

TEST(EmitYaml, PlainSafe) {
  EXPECT_TRUE(manifest::plain_safe("docs-bucket"));
  EXPECT_TRUE(manifest::plain_safe("web-crawler"));
  EXPECT_TRUE(manifest::plain_safe("aisearchd/v1"));
  for (const char* s : {"", "true", "Yes", "NO", "on", "y", "null", "123", "1e5", "@cf/x",
                        "https://example.com", "a b", "-x", ".inf", "x:y", "x#y"})
    EXPECT_FALSE(manifest::plain_safe(s)) << s;
}

}  // namespace
