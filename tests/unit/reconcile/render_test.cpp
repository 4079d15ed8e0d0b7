#include "reconcile/render.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "util/files.hpp"

namespace reconcile {
namespace {

using nlohmann::json;

// Golden files live in tests/data/golden/. After an intended change of the output, regenerate
// them with `UPDATE_GOLDEN=1 ./unit_reconcile --gtest_filter='Render*'` and review the diff by
// eye: they are what operators and reviewers read.
void expect_golden(const std::string& name, const std::string& actual) {
  const std::filesystem::path path = std::filesystem::path(TEST_DATA_DIR) / "golden" / name;
  const char* update = std::getenv("UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::filesystem::create_directories(path.parent_path());
    auto written = util::write_file_atomic(path, actual, 0644);
    ASSERT_TRUE(written.ok()) << written.error();
    return;
  }
  auto expected = util::read_file(path);
  ASSERT_TRUE(expected.ok()) << expected.error() << " (create it with UPDATE_GOLDEN=1)";
  EXPECT_EQ(expected.value(), actual)
      << "output differs from " << path << "; if intended, regenerate with UPDATE_GOLDEN=1";
}

FieldChange field(std::string path, json before, json after, bool reindex = false) {
  FieldChange f;
  f.path = std::move(path);
  f.before = std::move(before);
  f.after = std::move(after);
  f.reindex = reindex;
  return f;
}

Change change(Action action, std::string ns, std::string id, Reason reason = Reason::config) {
  Change c;
  c.action = action;
  c.ns = std::move(ns);
  c.id = std::move(id);
  c.reason = reason;
  return c;
}

Change blocked(Change c, std::string rail, std::string message) {
  c.blocked = Blocked{std::move(rail), std::move(message)};
  return c;
}

// One plan with every kind of line the renderers can print.
Plan full_plan() {
  Plan plan;

  Change ns_create = change(Action::create, "support", "");
  ns_create.body = {{"name", "support"}, {"description", "Support knowledge bases"}};
  plan.changes.push_back(ns_create);

  Change ns_update = change(Action::update, "research", "");
  ns_update.fields.push_back(field("description", "Research", "Research notes"));
  plan.changes.push_back(ns_update);

  Change docs = change(Action::create, "default", "docs");
  docs.body = {{"id", "docs"},
               {"type", "r2"},
               {"source", "docs-bucket"},
               {"token_id", "2c5a6f0e-8f7a-4d3b-9c1e-0a1b2c3d4e5f"},
               {"chunk_size", 1024},
               {"score_threshold", 0.4},
               {"indexing_options", {{"use_ocr", true}}},
               {"custom_metadata", json::array({{{"field_name", "lang"}, {"data_type", "text"}}})}};
  docs.followup_update = {{"paused", false}};
  plan.changes.push_back(docs);

  Change kb = change(Action::create, "support", "kb");
  kb.body = {{"id", "kb"},
             {"type", "web-crawler"},
             {"source", "https://support.example.com"},
             {"source_params",
              {{"web_crawler",
                {{"parse_type", "sitemap"},
                 {"parse_options",
                  {{"include_headers",
                    {{"Authorization", "Bearer hunter2-create"},
                     {"X-Team", "support-team-header"}}}}}}}}}};
  plan.changes.push_back(kb);

  Change recreated = change(Action::create, "default", "recreated", Reason::drift);
  recreated.body = {{"id", "recreated"}, {"type", "r2"}, {"source", "recreated-bucket"}};
  plan.changes.push_back(recreated);

  Change faq = change(Action::update, "default", "faq", Reason::drift);
  faq.modified_by = "alice@example.com";
  faq.reindex = true;
  faq.fields.push_back(field("max_num_results", 5, 20));
  faq.fields.push_back(field("indexing_options.use_ocr", false, true, true));
  FieldChange header = field("source_params.web_crawler.parse_options.include_headers.X-Api-Key",
                             "old-secret-value", "new-secret-value");
  header.sensitive = true;
  faq.fields.push_back(header);
  plan.changes.push_back(faq);

  Change handbook = change(Action::update, "default", "handbook");
  handbook.fields.push_back(field("rewrite_query", nullptr, true));
  handbook.fields.push_back(field("cache_threshold", "close_enough", nullptr));
  FieldChange chunk = field("chunk", nullptr, false);
  chunk.unknown_before = true;
  handbook.fields.push_back(chunk);
  handbook.fields.push_back(field("public_endpoint_params", {{"enabled", false}},
                                  {{"enabled", true}, {"authorized_hosts", {"docs.example.com"}}}));
  plan.changes.push_back(handbook);

  Change site = change(Action::replace, "support", "site");
  site.fields.push_back(
      field("source", "https://old.example.com", "https://new.example.com", true));
  site.body = {{"id", "site"}, {"type", "web-crawler"}, {"source", "https://new.example.com"}};
  plan.changes.push_back(site);

  plan.changes.push_back(change(Action::delete_, "default", "old"));

  Change move = change(Action::move, "support", "guides");
  move.from_ns = "default";
  plan.changes.push_back(move);

  plan.changes.push_back(blocked(change(Action::delete_, "default", "legacy"), "prune_disabled",
                                 "prune is off for namespace default (set prune: true to delete)"));
  plan.changes.push_back(blocked(change(Action::delete_, "default", "shared"), "unowned",
                                 "not owned by aisearchd; adopt it first"));
  plan.changes.push_back(blocked(change(Action::delete_, "default", "keep-me"), "protected",
                                 "protect: true is recorded for this instance"));
  plan.changes.push_back(blocked(change(Action::delete_, "research", "notes-2"), "max_deletes",
                                 "max_deletes (1) reached for namespace research"));
  plan.changes.push_back(
      blocked(change(Action::delete_, "archive", "a1"), "never_empty",
              "the manifest lists no instances for namespace archive while state owns 2"));
  Change site2 = change(Action::replace, "default", "site2", Reason::drift);
  site2.modified_by = "bob@example.com";
  site2.fields.push_back(field("type", "r2", "web-crawler", true));
  plan.changes.push_back(
      blocked(site2, "replace_not_allowed",
              "a change to type re-creates the instance; set allow_replace: true"));

  plan.unmanaged = {{"default", "hand-made"}, {"support", "experiment"}};
  plan.skipped_namespaces = {{"team-a", "list failed: HTTP 503 service unavailable"}};
  plan.warnings = {"default/docs is paused on Cloudflare but has a sync schedule in the manifest"};
  plan.changes.push_back(change(Action::adopt, "default", "legacy"));
  return plan;
}

Plan blocked_only_plan() {
  Plan plan;
  plan.changes.push_back(blocked(change(Action::delete_, "default", "legacy"), "prune_disabled",
                                 "prune is off for namespace default"));
  return plan;
}

TEST(RenderGolden, FullPlanText) {
  expect_golden("plan_full.txt", render_text(full_plan(), {}));
}

TEST(RenderGolden, FullPlanTextColor) {
  expect_golden("plan_full.color.txt", render_text(full_plan(), RenderOptions{.color = true}));
}

TEST(RenderGolden, FullPlanMarkdown) {
  expect_golden("plan_full.md", render_markdown(full_plan()));
}

TEST(RenderGolden, FullPlanJson) {
  expect_golden("plan_full.json", render_json_string(full_plan()));
}

TEST(RenderGolden, EmptyPlan) {
  expect_golden("plan_empty.txt", render_text(Plan{}, {}));
  expect_golden("plan_empty.md", render_markdown(Plan{}));
  expect_golden("plan_empty.json", render_json_string(Plan{}));
}

TEST(RenderGolden, BlockedOnlyPlan) {
  expect_golden("plan_blocked_only.txt", render_text(blocked_only_plan(), {}));
  expect_golden("plan_blocked_only.md", render_markdown(blocked_only_plan()));
}

TEST(RenderText, UsesTerraformShapeAndExactSummary) {
  const std::string text = render_text(full_plan(), {});
  EXPECT_NE(text.find("  ~ default/faq will be updated in place (drift, modified by "
                      "alice@example.com, re-index)\n"),
            std::string::npos);
  EXPECT_NE(text.find("      ~ max_num_results: 5 -> 20\n"), std::string::npos);
  EXPECT_NE(text.find("      + source: \"docs-bucket\"\n"), std::string::npos);
  EXPECT_NE(text.find("  + namespace support will be created"), std::string::npos);
  EXPECT_NE(text.find("  ~ namespace research will be updated"), std::string::npos);
  EXPECT_NE(text.find("  > default/guides will be moved to namespace support"), std::string::npos);
  EXPECT_NE(text.find("  -/+ support/site will be replaced"), std::string::npos);
  EXPECT_NE(text.find("  - default/old will be deleted"), std::string::npos);
  EXPECT_NE(text.find("# blocked (never_empty): "), std::string::npos);
  EXPECT_NE(text.find("  = default/legacy will be adopted (config)\n"), std::string::npos);
  EXPECT_NE(text.find("Plan: 1 to adopt, 4 to create, 3 to update, 1 to replace, 1 to delete, "
                      "1 to move. 6 blocked.\n"),
            std::string::npos);
}

// Issue 17, item 2: a plan that adopts an existing instance said "No changes." (and exit 0),
// though from then on prune can delete the instance. Adoption is an action of its own, counted
// in the summary only when there is one.
TEST(RenderText, AnAdoptionIsShownAndCounted) {
  Plan plan;
  plan.changes.push_back(change(Action::adopt, "default", "legacy"));
  plan.adopt.push_back("default/legacy");
  EXPECT_TRUE(plan.has_changes());
  const std::string text = render_text(plan, {});
  EXPECT_NE(text.find("  = default/legacy will be adopted (config)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Plan: 1 to adopt, 0 to create, 0 to update, 0 to replace, 0 to delete, 0 "
                      "to move.\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("No changes"), std::string::npos) << text;
  const auto j = render_json(plan);
  EXPECT_EQ(j["changes"][0]["action"], "adopt");
  EXPECT_EQ(j["summary"]["adopt"], 1);
}

// The address names the instance: a create lists its fields, never `id` (issue 12, item 12); an
// upload-only create (`managed: true`) says so and prints no empty field line.
TEST(RenderText, ACreateListsItsFieldsNotItsIdAndNamesManagedStorage) {
  Plan plan;
  Change docs = change(Action::create, "default", "docs");
  docs.body = {{"id", "docs"}, {"source", "docs-bucket"}};
  Change uploads = change(Action::create, "default", "uploads");
  uploads.body = {{"id", "uploads"}};
  plan.changes = {docs, uploads};
  const std::string text = render_text(plan, {});
  EXPECT_EQ(text.find("id:"), std::string::npos) << text;
  EXPECT_NE(text.find("      + source: \"docs-bucket\"\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  + default/uploads will be created as managed storage (upload-only: no "
                      "type, no source) (config)\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find(" : {}"), std::string::npos) << text;
  const auto json_plan = render_json(plan);
  for (const auto& c : json_plan.at("changes"))
    for (const auto& f : c.at("fields")) EXPECT_NE(f.at("path"), "id") << c.dump();
}

TEST(RenderText, EmptyPlanSaysNoChanges) {
  EXPECT_EQ(render_text(Plan{}, {}), "No changes. Remote instances match the manifest.\n");
}

TEST(RenderText, SkippedNamespacesAreNotCalledInSync) {
  Plan plan;
  plan.skipped_namespaces = {{"team-a", "list failed: timeout"}};
  const std::string text = render_text(plan, {});
  EXPECT_NE(text.find("  team-a: list failed: timeout\n"), std::string::npos);
  EXPECT_EQ(text.find("match the manifest"), std::string::npos);
  EXPECT_NE(text.find("No changes planned, but 1 namespace was not compared"), std::string::npos);
}

TEST(RenderText, ColourOnlyWhenAsked) {
  EXPECT_EQ(render_text(full_plan(), {}).find('\x1b'), std::string::npos);
  const std::string coloured = render_text(full_plan(), RenderOptions{.color = true});
  EXPECT_NE(coloured.find("\x1b[32m+\x1b[0m default/docs"), std::string::npos);
  EXPECT_NE(coloured.find("\x1b[33m~\x1b[0m default/faq"), std::string::npos);
  EXPECT_NE(coloured.find("\x1b[31m-\x1b[0m default/old"), std::string::npos);
  EXPECT_NE(coloured.find("\x1b[35m-/+\x1b[0m support/site"), std::string::npos);
  EXPECT_NE(coloured.find("\x1b[36m>\x1b[0m default/guides"), std::string::npos);
}

TEST(Render, SecretsNeverAppearInAnyOutput) {
  Plan plan = full_plan();
  // A secret-like key outside include_headers, nested in an update's whole-object value, and a
  // field the diff forgot to flag.
  Change extra = change(Action::update, "default", "extra");
  extra.fields.push_back(field("metadata", json::object(),
                               {{"worker_domain", "w.example.com"}, {"api_key", "k-123-secret"}}));
  extra.fields.push_back(field("source_params.web_crawler.parse_options.include_headers.Cookie",
                               nullptr, "session=cookie-secret"));
  plan.changes.push_back(extra);

  const std::string outputs[] = {render_text(plan, {}), render_markdown(plan),
                                 render_json_string(plan)};
  for (const auto& out : outputs) {
    for (const char* secret : {"hunter2", "support-team-header", "old-secret-value",
                               "new-secret-value", "k-123-secret", "cookie-secret"}) {
      EXPECT_EQ(out.find(secret), std::string::npos) << secret << " leaked";
    }
    EXPECT_NE(out.find("(sensitive)"), std::string::npos);
    EXPECT_NE(out.find("w.example.com"), std::string::npos);  // the rest stays visible
  }
  const json j = render_json(plan);
  const json& faq = j["changes"][5];
  ASSERT_EQ(faq["address"], "default/faq");
  EXPECT_EQ(faq["fields"][2]["before"], "(sensitive)");
  EXPECT_EQ(faq["fields"][2]["after"], "(sensitive)");
}

TEST(RenderJson, StringFormMatchesTheDocument) {
  const Plan plan = full_plan();
  const std::string text = render_json_string(plan);
  EXPECT_EQ(json::parse(text), render_json(plan));
  EXPECT_EQ(text.rfind("{\n  \"format_version\": \"1\",", 0), 0u);  // reading order, not sorted
  const std::string one_line = render_json_string(plan, -1);
  EXPECT_EQ(one_line.find('\n'), one_line.size() - 1);  // one line, newline-terminated
}

TEST(RenderJson, StableContractShape) {
  const json j = render_json(full_plan());
  EXPECT_EQ(j["format_version"], "1");
  for (const char* key : {"changes", "unmanaged", "skipped_namespaces", "warnings"}) {
    EXPECT_TRUE(j.at(key).is_array()) << key;
  }
  EXPECT_EQ(j["summary"], json({{"adopt", 1},
                                {"create", 4},
                                {"update", 3},
                                {"replace", 1},
                                {"delete", 1},
                                {"move", 1},
                                {"blocked", 6}}));
  for (const auto& c : j["changes"]) {
    for (const char* key : {"address", "namespace", "action", "reason", "modified_by", "fields",
                            "reindex", "blocked"}) {
      EXPECT_TRUE(c.contains(key)) << c["address"] << " lacks " << key;
    }
  }
  const json& ns = j["changes"][0];
  EXPECT_EQ(ns["address"], "support");
  EXPECT_FALSE(ns.contains("id"));
  const json& faq = j["changes"][5];
  EXPECT_EQ(faq["action"], "update");
  EXPECT_EQ(faq["reason"], "drift");
  EXPECT_EQ(faq["modified_by"], "alice@example.com");
  EXPECT_EQ(faq["fields"][0],
            json({{"path", "max_num_results"}, {"before", 5}, {"after", 20}, {"reindex", false}}));
  EXPECT_TRUE(faq["reindex"]);
  EXPECT_TRUE(faq["blocked"].is_null());
  const json& docs = j["changes"][2];
  EXPECT_TRUE(docs["modified_by"].is_null());
  EXPECT_EQ(
      docs["fields"][0],
      json({{"path", "chunk_size"}, {"before", nullptr}, {"after", 1024}, {"reindex", false}}));
  const json& move = j["changes"][9];
  EXPECT_EQ(move["action"], "move");
  EXPECT_EQ(move["from_namespace"], "default");
  EXPECT_EQ(move["address"], "support/guides");
  const json& prune = j["changes"][10];
  EXPECT_EQ(prune["blocked"]["rail"], "prune_disabled");
  EXPECT_EQ(j["unmanaged"][0], json({{"namespace", "default"}, {"id", "hand-made"}}));
  EXPECT_EQ(j["skipped_namespaces"][0]["namespace"], "team-a");
}

TEST(Render, HostileTextIsEscapedAndNeverThrows) {
  Plan plan;
  Change c = change(Action::update, "default", "x", Reason::drift);
  c.modified_by = "eve\x1b[2J\xff\xfe@example.com\n| <img src=x> ``` ";
  c.fields.push_back(field("description", "a", "```\n# fake"));
  plan.changes.push_back(c);
  plan.warnings.push_back("bad \xc3\x28 utf8");
  Change created = change(Action::create, "default", "y");
  created.body = {{"id", "y"}, {"description", "ok"}};
  created.body["bad\xffkey"] = "value";
  plan.changes.push_back(created);

  const std::string text = render_text(plan, {});
  EXPECT_EQ(text.find('\x1b'), std::string::npos);
  EXPECT_NE(text.find("eve\\u001b[2J"), std::string::npos);

  std::string dumped;
  EXPECT_NO_THROW(dumped = render_json_string(plan));
  EXPECT_TRUE(json::accept(dumped));
  EXPECT_NO_THROW((void)render_json(plan).dump());  // strict dump: every string is valid UTF-8
  EXPECT_EQ(json::parse(dumped)["changes"][0]["modified_by"].get<std::string>().find('\xff'),
            std::string::npos);

  const std::string md = render_markdown(plan);
  EXPECT_EQ(md.find("<img"), std::string::npos);
  EXPECT_NE(md.find("````diff"), std::string::npos);  // a fence the value cannot close
}

Plan huge_plan(std::size_t n) {
  Plan plan;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string id = "instance-" + std::to_string(i);
    if (i % 50 == 7) {
      plan.changes.push_back(change(Action::delete_, "default", id));
    } else if (i % 100 == 13) {
      Change c = change(Action::replace, "default", id);
      c.fields.push_back(field("source", "old-" + id, "new-" + id, true));
      plan.changes.push_back(c);
    } else if (i % 2 == 0) {
      Change c = change(Action::create, "default", id);
      c.body = {{"id", id}, {"type", "r2"}, {"source", id + "-bucket"}, {"chunk_size", 512}};
      plan.changes.push_back(c);
    } else {
      Change c = change(Action::update, "default", id, Reason::drift);
      c.modified_by = "someone@example.com";
      c.fields.push_back(field("max_num_results", 5, 20));
      plan.changes.push_back(c);
    }
  }
  return plan;
}

TEST(RenderMarkdown, TenThousandChangesStayUnderGithubsLimit) {
  const Plan plan = huge_plan(10000);
  const std::string md = render_markdown(plan);
  EXPECT_LT(md.size(), 65535u);
  EXPECT_LE(md.size(), 65000u);
  EXPECT_NE(md.find("**Plan: "), std::string::npos);
  EXPECT_NE(md.find("changes' details omitted; run aisearchd plan locally for the full plan._"),
            std::string::npos);
  for (const auto& c : plan.changes) {
    if (c.action == Action::delete_ || c.action == Action::replace) {
      const std::string row =
          std::string("` ") + to_string(c.action) + " | `" + c.address() + "` |";
      EXPECT_NE(md.find(row), std::string::npos) << c.address() << " missing";
    }
  }
}

TEST(RenderMarkdown, TenThousandDeletesStillFitAndSayWhatIsMissing) {
  Plan plan;
  for (int i = 0; i < 10000; ++i) {
    plan.changes.push_back(change(Action::delete_, "default", "instance-" + std::to_string(i)));
  }
  plan.unmanaged.push_back({"default", "hand-made"});
  plan.skipped_namespaces.push_back({"team-a", "list failed: HTTP 500"});
  const std::string md = render_markdown(plan);
  EXPECT_LE(md.size(), 65000u);
  EXPECT_NE(
      md.find("**Plan: 0 to create, 0 to update, 0 to replace, 10000 to delete, 0 to move.**"),
      std::string::npos);
  EXPECT_NE(md.find("`default/instance-0`"), std::string::npos);
  EXPECT_NE(md.find(" deletes and replaces (too many to show)._"), std::string::npos);
  EXPECT_NE(md.find("- `team-a`: list failed: HTTP 500"), std::string::npos);
  EXPECT_NE(md.find("- … 1 not shown"), std::string::npos);  // the unmanaged instance
  EXPECT_NE(md.find("_Output truncated; run aisearchd plan locally for the full plan._"),
            std::string::npos);
}

TEST(RenderMarkdown, ShortPlanIsNotTruncated) {
  const std::string md = render_markdown(full_plan());
  EXPECT_EQ(md.find("Output truncated"), std::string::npos);
  EXPECT_NE(md.find("<details><summary><code>default/faq</code>"), std::string::npos);
}

TEST(RenderMarkdown, TinyBudgetStillGivesTheSummary) {
  const std::string md = render_markdown(huge_plan(100), 10);
  EXPECT_NE(md.find("**Plan: "), std::string::npos);
  EXPECT_NE(md.find("Output truncated"), std::string::npos);
}

TEST(RenderMarkdown, TruncationCountsOmittedDetails) {
  const Plan plan = huge_plan(300);
  const std::string md = render_markdown(plan, 20000);
  EXPECT_LE(md.size(), 20000u);
  const auto pos = md.find("_Output truncated: ");
  ASSERT_NE(pos, std::string::npos);
  const int omitted = std::stoi(md.substr(pos + 19));
  std::size_t shown = 0;
  for (auto at = md.find("<details>"); at != std::string::npos; at = md.find("<details>", at + 1))
    ++shown;
  // Every change but the plain deletes has details.
  std::size_t with_details = 0;
  for (const auto& c : plan.changes) with_details += c.action != Action::delete_;
  EXPECT_GT(omitted, 0);
  EXPECT_EQ(static_cast<std::size_t>(omitted) + shown, with_details);
}

}  // namespace
}  // namespace reconcile
