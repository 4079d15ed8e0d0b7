#include "model/instance_fields.hpp"

#include <gtest/gtest.h>

TEST(InstanceFields, InstanceIdRules) {
  for (const char* ok : {"a", "docs", "my-blog", "a_b", "x1-y2-z3", "_", "0"})
    EXPECT_TRUE(model::is_valid_instance_id(ok)) << ok;
  for (const char* bad : {"", "-a", "a-", "a--b", "Docs", "a b", "a.b", "a/b", "é"})
    EXPECT_FALSE(model::is_valid_instance_id(bad)) << bad;
  EXPECT_TRUE(model::is_valid_instance_id(std::string(64, 'a')));
  EXPECT_FALSE(model::is_valid_instance_id(std::string(65, 'a')));
}

TEST(InstanceFields, NamespaceNameRules) {
  for (const char* ok : {"default", "a", "team-a", "a1", "a--b"})
    EXPECT_TRUE(model::is_valid_namespace_name(ok)) << ok;
  for (const char* bad : {"", "-a", "a-", "Team", "a_b", "a.b"})
    EXPECT_FALSE(model::is_valid_namespace_name(bad)) << bad;
  EXPECT_TRUE(model::is_valid_namespace_name(std::string(28, 'a')));
  EXPECT_FALSE(model::is_valid_namespace_name(std::string(29, 'a')));
}

TEST(InstanceFields, CatalogueFlagsDriveCreateUpdateAndReindex) {
  EXPECT_FALSE(model::find_instance_field("paused")->on_create);
  EXPECT_FALSE(model::find_instance_field("type")->on_update);
  EXPECT_TRUE(model::find_instance_field("source")->immutable);
  EXPECT_TRUE(model::find_field_path("indexing_options.use_ocr")->reindex);
  EXPECT_TRUE(model::find_field_path("indexing_options.keyword_tokenizer")->reindex);
  EXPECT_FALSE(model::find_field_path("chunk_size")->reindex);
  EXPECT_FALSE(model::find_instance_field("system_prompt_ai_search")->returned);
  EXPECT_TRUE(model::find_instance_field("public_endpoint_params")->replaced_whole);
  EXPECT_EQ(model::find_field_path("custom_metadata.field_name")->name, "field_name");
  EXPECT_EQ(model::find_field_path("nope"), nullptr);
}

TEST(InstanceFields, SensitivePaths) {
  EXPECT_TRUE(
      model::is_sensitive_path("source_params.web_crawler.parse_options.include_headers.X-Api"));
  EXPECT_TRUE(model::is_sensitive_path("metadata.api_key"));
  EXPECT_FALSE(model::is_sensitive_path("token_id"));
  EXPECT_FALSE(model::is_sensitive_path("chunk_size"));
}
