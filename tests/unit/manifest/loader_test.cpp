#include "manifest/loader.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

using nlohmann::json;

namespace {

util::EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

const util::EnvLookup k_no_env = env_of({});

manifest::Manifest load_ok(const std::string& yaml, const util::EnvLookup& env = k_no_env) {
  auto r = manifest::load_manifest_string(yaml, "m.yaml", env);
  if (!r) {
    std::string all;
    for (const auto& e : r.error()) all += e.to_string() + "\n";
    ADD_FAILURE() << "unexpected errors:\n" << all;
    return {};
  }
  return std::move(r.value());
}

std::vector<std::string> load_errors(const std::string& yaml,
                                     const util::EnvLookup& env = k_no_env) {
  auto r = manifest::load_manifest_string(yaml, "m.yaml", env);
  std::vector<std::string> out;
  if (r) {
    ADD_FAILURE() << "expected errors, the manifest loaded";
    return out;
  }
  for (const auto& e : r.error()) out.push_back(e.to_string());
  return out;
}

// A temporary directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    m_path = std::filesystem::temp_directory_path() /
             ("aisearchd-manifest-test-" +
              std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
              ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(m_path);
    std::filesystem::create_directories(m_path);
  }
  ~TempDir() { std::filesystem::remove_all(m_path); }
  const std::filesystem::path& path() const { return m_path; }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(m_path / name) << text;
  }

 private:
  std::filesystem::path m_path;
};

const char* k_header = "apiVersion: aisearchd/v1\n";

}  // namespace

TEST(ManifestLoader, LoadsInstancesWithTypedFields) {
  auto m = load_ok(std::string(k_header) + R"(
account_id: abc123
namespaces:
  default:
    prune: true
    max_deletes: 3
    instances:
      docs:
        type: r2
        source: docs-bucket
        chunk_size: 1024
        score_threshold: 0.5
        reranking: true
        ai_gateway_id: ~
        embedding_model: ""
        index_method: { keyword: true, vector: false }
        protect: true
        allow_replace: true
        ignore_changes: [reranking_model, index_method.keyword]
)");
  ASSERT_EQ(m.namespaces.size(), 1u);
  EXPECT_EQ(m.account_id, "abc123");
  const auto& ns = m.namespaces.at("default");
  EXPECT_TRUE(ns.prune);
  EXPECT_EQ(ns.max_deletes, 3);
  const auto& docs = ns.instances.at("docs");
  EXPECT_EQ(docs.address(), "default/docs");
  EXPECT_EQ(docs.fields.at("chunk_size"), json(1024));
  EXPECT_TRUE(docs.fields.at("chunk_size").is_number_integer());
  EXPECT_TRUE(docs.fields.at("score_threshold").is_number_float());
  EXPECT_EQ(docs.fields.at("reranking"), json(true));
  EXPECT_TRUE(docs.fields.at("ai_gateway_id").is_null());
  EXPECT_EQ(docs.fields.at("embedding_model"), json(""));
  EXPECT_EQ(docs.fields.at("index_method"), json({{"keyword", true}, {"vector", false}}));
  EXPECT_TRUE(docs.protect);
  EXPECT_TRUE(docs.allow_replace);
  EXPECT_EQ(docs.ignore_changes,
            (std::vector<std::string>{"reranking_model", "index_method.keyword"}));
  EXPECT_FALSE(docs.fields.contains("protect"));
  EXPECT_EQ(docs.where.to_string(), "m.yaml:9:7");
  EXPECT_EQ(m.instance_count(), 1u);
}

TEST(ManifestLoader, NamespaceDefaultsAreDocumented) {
  auto m = load_ok(std::string(k_header) +
                   "namespaces:\n  team:\n    instances:\n      kb: { managed: true }\n");
  const auto& ns = m.namespaces.at("team");
  EXPECT_FALSE(ns.prune);
  EXPECT_EQ(ns.max_deletes, 1);
  EXPECT_FALSE(ns.suspend);
  EXPECT_FALSE(ns.description.has_value());
  EXPECT_TRUE(ns.instances.at("kb").fields.empty());
}

TEST(ManifestLoader, ShorthandFlowInstance) {
  auto m = load_ok(std::string(k_header) + R"(
namespaces:
  support:
    description: Support knowledge bases
    instances:
      kb: { type: web-crawler, source: "https://support.example.com" }
)");
  const auto& ns = m.namespaces.at("support");
  EXPECT_EQ(ns.description, "Support knowledge bases");
  EXPECT_EQ(ns.instances.at("kb").fields,
            json({{"type", "web-crawler"}, {"source", "https://support.example.com"}}));
}

TEST(ManifestLoader, MergesDefaultsThenNamespaceDefaultsThenInstance) {
  auto m = load_ok(std::string(k_header) + R"(
defaults:
  chunk_size: 512
  max_num_results: 5
  index_method: { keyword: true, vector: true }
  source_params: { prefix: top/, include_items: ["a", "b"] }
  public_endpoint_params: { enabled: true, authorized_hosts: [example.com] }
  indexing_options: { keyword_tokenizer: porter }
namespaces:
  team:
    defaults:
      max_num_results: 7
      source_params: { include_items: ["c"] }
    instances:
      kb:
        source: docs-bucket
        chunk_size: 1024
        index_method: { vector: false }
        source_params: { exclude_items: ["d"] }
        public_endpoint_params: { default_domain_enabled: true }
        indexing_options: ~
)");
  const auto& f = m.namespaces.at("team").instances.at("kb").fields;
  EXPECT_EQ(f.at("chunk_size"), 1024);    // instance wins
  EXPECT_EQ(f.at("max_num_results"), 7);  // namespace defaults
  EXPECT_EQ(f.at("index_method"), json({{"keyword", true}, {"vector", false}}));  // key by key
  EXPECT_EQ(f.at("source_params"), json({{"prefix", "top/"},
                                         {"include_items", {"c"}},
                                         {"exclude_items", {"d"}}}));  // arrays replace
  EXPECT_EQ(f.at("public_endpoint_params"), json({{"default_domain_enabled", true}}));  // whole
  EXPECT_TRUE(f.at("indexing_options").is_null());  // null replaces an object
}

TEST(ManifestLoader, EnumsAreCaseInsensitiveAndStoredCanonically) {
  auto m = load_ok(std::string(k_header) +
                   "namespaces:\n  default:\n    instances:\n      docs: { type: R2, source: docs, "
                   "fusion_method: RRF }\n");
  const auto& f = m.namespaces.at("default").instances.at("docs").fields;
  EXPECT_EQ(f.at("type"), "r2");
  EXPECT_EQ(f.at("fusion_method"), "rrf");
}

TEST(ManifestLoader, UpdateOnlyFieldsAreAccepted) {
  auto m = load_ok(std::string(k_header) +
                   "namespaces:\n  default:\n    instances:\n      docs:\n        source: docs\n"
                   "        paused: true\n"
                   "        summarization: false\n        system_prompt_ai_search: Be brief.\n");
  const auto& f = m.namespaces.at("default").instances.at("docs").fields;
  EXPECT_EQ(f.at("paused"), true);
  EXPECT_EQ(f.at("summarization"), false);
  EXPECT_EQ(f.at("system_prompt_ai_search"), "Be brief.");
}

TEST(ManifestLoader, ExpandsEnvironmentVariablesAndTypesTheResult) {
  auto env = env_of(
      {{"BUCKET", "2024"}, {"CHUNK", "768"}, {"TOKEN", "2c5a9b1e-4f7d-4c3a-9e2b-8d1f0a6b7c3e"}});
  auto m = load_ok(std::string(k_header) + R"(
account_id: ${ACCOUNT:-fallback-account}
namespaces:
  default:
    instances:
      docs:
        source: ${BUCKET}
        chunk_size: "${CHUNK}"
        token_id: ${TOKEN}
        max_num_results: ${RESULTS:-12}
        ai_gateway_id: cost-$$-gateway
)",
                   env);
  EXPECT_EQ(m.account_id, "fallback-account");
  const auto& f = m.namespaces.at("default").instances.at("docs").fields;
  EXPECT_EQ(f.at("source"), "2024");  // a string field stays a string
  EXPECT_EQ(f.at("chunk_size"), 768);
  EXPECT_EQ(f.at("max_num_results"), 12);
  EXPECT_EQ(f.at("token_id"), "2c5a9b1e-4f7d-4c3a-9e2b-8d1f0a6b7c3e");
  EXPECT_EQ(f.at("ai_gateway_id"), "cost-$-gateway");
}

TEST(ManifestLoader, ExpandedValuesAreStillValidated) {
  auto errors = load_errors(
      std::string(k_header) +
          "namespaces:\n  default:\n    instances:\n      docs:\n        chunk_size: ${CHUNK}\n"
          "        source: docs\n",
      env_of({{"CHUNK", "big"}}));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "m.yaml:6:21: chunk_size: expected an integer, got \"${CHUNK}\"");
}

TEST(ManifestLoader, ParsesSync) {
  auto m = load_ok(std::string(k_header) + R"(
namespaces:
  default:
    instances:
      a:
        sync:
          schedule: "0 2 * * *"
          timezone: Europe/Berlin
          jitter: 5m
          on_change: true
          concurrency: replace
          timeout: 2h
          max_staleness: 26h
          suspend: true
        source: a-bucket
      b:
        sync: { every: 6h }
        source: b-bucket
      c:
        sync: { schedule: "@daily" }
        source: c-bucket
)");
  const auto& ns = m.namespaces.at("default");
  const auto& a = ns.instances.at("a").sync.value();
  EXPECT_EQ(a.schedule, "0 2 * * *");
  EXPECT_FALSE(a.every.has_value());
  EXPECT_EQ(a.timezone, "Europe/Berlin");
  EXPECT_EQ(a.jitter, std::chrono::minutes(5));
  EXPECT_TRUE(a.on_change);
  EXPECT_EQ(a.concurrency, manifest::SyncSpec::Concurrency::replace);
  EXPECT_EQ(a.timeout, std::chrono::hours(2));
  EXPECT_EQ(a.max_staleness, std::chrono::hours(26));
  EXPECT_TRUE(a.suspend);
  EXPECT_EQ(a.where.to_string(), "m.yaml:7:9");
  const auto& b = ns.instances.at("b").sync.value();
  EXPECT_EQ(b.every, std::chrono::hours(6));
  EXPECT_EQ(b.timezone, "UTC");
  EXPECT_EQ(b.concurrency, manifest::SyncSpec::Concurrency::forbid);
  EXPECT_FALSE(b.on_change);
  EXPECT_EQ(ns.instances.at("c").sync->schedule, "@daily");
  EXPECT_FALSE(ns.instances.at("c").sync->every.has_value());
}

TEST(ManifestLoader, ReportsEveryErrorOfAFileInOrder) {
  auto errors = load_errors(std::string(k_header) + R"(namespaces:
  default:
    instances:
      a: { chunk_size: 10, cache: maybe, source: s3-bucket }
      b: { colour: red, source: s3-bucket }
      c: { sync: { every: 1h, schedule: "* * * * *" }, source: s3-bucket }
)");
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0], "m.yaml:5:24: chunk_size: 10 is out of range (must be at least 64)");
  EXPECT_EQ(errors[1], "m.yaml:5:35: cache: expected true or false, got \"maybe\"");
  EXPECT_EQ(errors[2], "m.yaml:6:12: unknown key \"colour\" in instance default/b");
  EXPECT_EQ(errors[3], "m.yaml:7:12: sync: set either schedule or every, not both");
}

TEST(ManifestLoader, CapsTheNumberOfErrors) {
  std::string yaml = std::string(k_header) + "namespaces:\n  default:\n    instances:\n";
  for (int i = 0; i < 500; ++i) yaml += "      i" + std::to_string(i) + ": { bogus: 1 }\n";
  auto r = manifest::load_manifest_string(yaml, "m.yaml", k_no_env);
  ASSERT_FALSE(r.ok());
  EXPECT_LE(r.error().size(), 201u);
  EXPECT_NE(r.error().back().message.find("too many errors"), std::string::npos);
}

TEST(ManifestLoader, RejectsOversizedInput) {
  std::string yaml = std::string(k_header) + "# " + std::string(17u * 1024 * 1024, 'x') + "\n";
  auto errors = load_errors(yaml);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("file too large"), std::string::npos);
}

TEST(ManifestLoader, AnEmptyFileIsAnErrorButAHeaderAloneIsAnEmptyManifest) {
  // A file emptied by a bad merge must not pass review as "manage nothing".
  auto errors = load_errors("# nothing here yet\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("m.yaml:1:1: empty manifest"), std::string::npos) << errors[0];
  auto m2 = load_ok(std::string(k_header));
  EXPECT_TRUE(m2.namespaces.empty());
}

TEST(ManifestLoader, InvalidUtf8AndNulBytesAreErrorsWithTheirPosition) {
  auto errors = load_errors(std::string(k_header) +
                            "namespaces:\n  a:\n    instances:\n      x: {source: \"\xff\"}\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("invalid UTF-8 (byte 0xFF)"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find(":5:"), std::string::npos) << errors[0];
  auto nul = load_errors(std::string(k_header) + std::string("namespaces: {}\0\n", 16));
  ASSERT_EQ(nul.size(), 1u);
  EXPECT_NE(nul[0].find("NUL"), std::string::npos) << nul[0];
}

TEST(ManifestLoader, SurrogatesOverlongFormsAndCodePointsPastU10FFFFAreInvalidUtf8) {
  // The reader's own decoder once let these through to yaml-cpp, and so into instance fields
  // that the API client then had to send as JSON.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\xED\xA0\x80", "0xED"},              // U+D800, a lone surrogate
      {"\xED\xA0\xBD\xED\xB8\x80", "0xED"},  // U+1F600 as a CESU-8 surrogate pair
      {"\xE0\x80\xAF", "0xE0"},              // '/' in an overlong 3-byte form
      {"\xF0\x80\x80\xAF", "0xF0"},          // '/' in an overlong 4-byte form
      {"\xF4\x90\x80\x80", "0xF4"},          // U+110000
      {"\xF5\x80\x80\x80", "0xF5"},          // a lead byte that never occurs
  };
  for (const auto& [bytes, byte] : cases) {
    auto errors = load_errors(std::string(k_header)
                                  .append("namespaces:\n  a:\n    description: \"x")
                                  .append(bytes)
                                  .append("\"\n"));
    ASSERT_EQ(errors.size(), 1u) << byte;
    EXPECT_EQ(errors[0], std::string("m.yaml:4:20: invalid UTF-8 (byte ")
                             .append(byte)
                             .append("): the file must be UTF-8 text"));
  }
  // Noncharacters and the edges of the valid ranges load.
  auto m = load_ok(std::string(k_header).append(
      "namespaces:\n  a:\n    description: \"\xEF\xBF\xBF \xED\x9F\xBF \xF4\x8F\xBF\xBF\"\n"));
  EXPECT_EQ(m.namespaces.at("a").description, "\xEF\xBF\xBF \xED\x9F\xBF \xF4\x8F\xBF\xBF");
}

TEST(ManifestLoader, AStrayCommaIsASyntaxErrorNotAnEndlessLoop) {
  // The YAML parser reports an empty document at a stray ',' without ever moving past it.
  for (const std::string text : {",4", ",", "\n,\n", "---\n,\n"}) {
    auto errors = load_errors(text);
    ASSERT_EQ(errors.size(), 1u) << text;
    EXPECT_NE(errors[0].find("YAML syntax error: unexpected ','"), std::string::npos) << errors[0];
  }
  auto errors = load_errors(",4");
  EXPECT_NE(errors[0].find("m.yaml:1:1:"), std::string::npos) << errors[0];
  // Empty documents one after another are fine.
  auto m = load_ok("---\n---\n" + std::string(k_header) + "namespaces: {}\n");
  EXPECT_TRUE(m.namespaces.empty());
}

TEST(ManifestLoader, SeveralDocumentsInOneFileMerge) {
  auto m = load_ok(std::string(k_header) +
                   "namespaces:\n  a:\n    instances:\n      x: { managed: true }\n---\n" +
                   k_header + "namespaces:\n  a:\n    instances:\n      y: { managed: true }\n");
  EXPECT_EQ(m.namespaces.at("a").instances.size(), 2u);
  auto errors =
      load_errors(std::string(k_header) +
                  "namespaces:\n  a:\n    instances:\n      x: { managed: true }\n---\n" +
                  k_header + "namespaces:\n  a:\n    instances:\n      x: { managed: true }\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "m.yaml:11:7: instance a/x is also defined at m.yaml:5:7");
}

TEST(ManifestLoader, HostileInputNeverThrows) {
  const std::vector<std::string> inputs = {
      "",
      "\xff\xfe\x00garbage",
      "[",
      "{",
      "a: *undefined",
      "? [complex, key]\n: value\n",
      "apiVersion: [aisearchd/v1]\n",
      std::string(k_header) + "namespaces: [a, b]\n",
      std::string(k_header) + "namespaces:\n  default: 5\n",
      std::string(k_header) + "namespaces:\n  default:\n    instances:\n      docs: [1, 2]\n",
      std::string(k_header) +
          "namespaces:\n  default:\n    instances:\n      docs:\n        sync: 5\n",
      std::string(k_header) +
          "namespaces:\n  default:\n    instances:\n      docs:\n        sync:\n",
      std::string(k_header) +
          "namespaces:\n  default:\n    instances:\n      docs:\n        custom_metadata: [~, 1, "
          "[2]]\n",
      std::string(k_header) +
          "namespaces:\n  default:\n    instances:\n      docs:\n        chunk_size: "
          "99999999999999999999999\n",
      std::string(k_header) +
          "namespaces:\n  default:\n    instances:\n      docs:\n        score_threshold: .nan\n",
      std::string(k_header) + "!!binary namespaces: x\n",
      "%YAML 1.2\n---\n" + std::string(k_header),
      std::string(10000, '['),
      std::string(10000, '{'),
      std::string(5000, '-') + " x",
  };
  for (const auto& input : inputs) {
    EXPECT_NO_THROW({
      auto r = manifest::load_manifest_string(input, "h.yaml", k_no_env);
      if (!r) {
        for (const auto& e : r.error()) EXPECT_EQ(e.where.file, "h.yaml");
      }
    }) << input.substr(0, 60);
  }
}

TEST(ManifestLoader, DirectoryMergesSortedYamlFilesOnly) {
  TempDir dir;
  dir.write(
      "20-b.yml",
      std::string(k_header) +
          "namespaces:\n  team:\n    prune: true\n    instances:\n      two: { managed: true }\n");
  dir.write(
      "10-a.yaml",
      std::string(k_header) +
          "namespaces:\n  team:\n    prune: true\n    instances:\n      one: { managed: true }\n");
  dir.write(".hidden.yaml", "this: is: not: valid\n");
  dir.write("notes.txt", "not a manifest\n");
  dir.write("README.md", "# docs\n");
  std::filesystem::create_directories(dir.path() / "sub.yaml");
  dir.write("sub.yaml/ignored.yaml", "garbage: [\n");
  auto r = manifest::load_manifest(dir.path(), k_no_env);
  ASSERT_TRUE(r.ok()) << r.error().front().to_string();
  const auto& team = r->namespaces.at("team");
  EXPECT_TRUE(team.prune);
  EXPECT_EQ(team.instances.size(), 2u);
  ASSERT_EQ(r->files.size(), 2u);
  EXPECT_EQ(std::filesystem::path(r->files[0]).filename(), "10-a.yaml");
  EXPECT_EQ(std::filesystem::path(r->files[1]).filename(), "20-b.yml");
  EXPECT_EQ(std::filesystem::path(team.where.file).filename(), "10-a.yaml");
}

TEST(ManifestLoader, EmptyDirectoryIsAnEmptyManifest) {
  TempDir dir;
  auto r = manifest::load_manifest(dir.path(), k_no_env);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->namespaces.empty());
  EXPECT_TRUE(r->files.empty());
}

TEST(ManifestLoader, MissingPathIsAnError) {
  auto r = manifest::load_manifest("/nonexistent/aisearchd/manifest.yaml", k_no_env);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().front().to_string(),
            "/nonexistent/aisearchd/manifest.yaml: no such file or directory");
}

TEST(ManifestLoader, ErrorsOfSeveralFilesComeInFileOrder) {
  TempDir dir;
  dir.write("b.yaml", std::string(k_header) + "namespaces:\n  x:\n    bogus: 1\n");
  dir.write("a.yaml", "namespaces: {}\n");
  auto r = manifest::load_manifest(dir.path(), k_no_env);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.error().size(), 2u);
  EXPECT_EQ(
      r.error()[0].to_string(),
      (dir.path() / "a.yaml").string() + ":1:1: missing apiVersion (add apiVersion: aisearchd/v1)");
  EXPECT_EQ(r.error()[1].to_string(),
            (dir.path() / "b.yaml").string() + ":4:5: unknown key \"bogus\" in namespace x");
}

TEST(ManifestLoader, SameNamespaceSettingInTwoFilesMustAgree) {
  std::vector<manifest::ManifestSource> sources = {
      {"a.yaml",
       std::string(k_header) + "namespaces:\n  team:\n    max_deletes: 2\n    description: Team\n"},
      {"b.yaml", std::string(k_header) +
                     "namespaces:\n  team:\n    max_deletes: 2\n    description: Other\n"}};
  auto r = manifest::load_manifest_sources(sources, k_no_env);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(r.error().size(), 1u);
  EXPECT_EQ(
      r.error()[0].to_string(),
      "b.yaml:5:18: namespace team: description is also set, to a different value, at a.yaml:5:18");
}

TEST(ManifestLoader, IgnorableFieldPathsCoverNestedFields) {
  auto paths = manifest::ignorable_field_paths();
  for (const char* p : {"chunk_size", "index_method.keyword", "custom_metadata.field_name",
                        "source_params.web_crawler.parse_options.include_headers",
                        "public_endpoint_params.rate_limit.requests"})
    EXPECT_NE(std::find(paths.begin(), paths.end(), p), paths.end()) << p;
}

// Issue 13, defect 10: validate rejects a jitter the schedule cannot hold, with its place.
TEST(ManifestLoader, AJitterLongerThanTheScheduleIntervalIsAnError) {
  const auto errors = load_errors(std::string(k_header) + R"(namespaces:
  default:
    instances:
      docs:
        type: r2
        source: bucket
        sync: { schedule: "*/5 * * * *", jitter: 10m }
)");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("m.yaml:8:"), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("shortest interval 5m"), std::string::npos) << errors[0];
}

// PRODUCT.md §4: the API makes upload-only storage silently from a blank source, so an
// instance without type and source must say `managed: true`; a lost source line is an error.
TEST(ManifestLoader, AnInstanceWithoutTypeOrSourceNeedsManagedTrue) {
  auto errors = load_errors(std::string(k_header) +
                            "namespaces:\n  a:\n    instances:\n      x: { chunk_size: 512 }\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("m.yaml:5:7: instance a/x: no type and no source: set source, or "
                            "managed: true",
                            0),
            0u)
      << errors[0];

  // Defaults may set the source; a managed instance takes no type or source from them.
  auto m =
      load_ok(std::string(k_header) +
              "namespaces:\n  a:\n    defaults: { type: r2, source: shared, chunk_size: 512 }\n"
              "    instances:\n      x: {}\n      up: { managed: true }\n");
  EXPECT_EQ(m.namespaces.at("a").instances.at("x").fields.at("source"), "shared");
  const auto& up = m.namespaces.at("a").instances.at("up");
  EXPECT_TRUE(up.managed);
  EXPECT_EQ(up.fields, json({{"chunk_size", 512}}));

  auto both =
      load_errors(std::string(k_header) +
                  "namespaces:\n  a:\n    instances:\n      x: { managed: true, type: r2 }\n");
  ASSERT_EQ(both.size(), 1u);
  EXPECT_EQ(both[0],
            "m.yaml:5:7: instance a/x: managed: true (upload-only storage) takes no type; remove "
            "type or managed");
}
