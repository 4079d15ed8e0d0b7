#include "manifest/schema.hpp"

#include <gtest/gtest.h>

#include "model/instance_fields.hpp"

using nlohmann::json;

TEST(ManifestSchema, DescribesEveryCatalogueFieldStrictly) {
  json s = manifest::manifest_json_schema();
  EXPECT_EQ(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
  EXPECT_EQ(s["additionalProperties"], false);
  EXPECT_EQ(s["properties"]["apiVersion"]["const"], "aisearchd/v1");
  const json& instance = s["$defs"]["instance"];
  EXPECT_EQ(instance["additionalProperties"], false);
  for (const auto& f : model::instance_fields())
    EXPECT_TRUE(instance["properties"].contains(f.name)) << f.name;
  for (const char* k : {"protect", "allow_replace", "ignore_changes", "suspend", "sync", "managed"})
    EXPECT_TRUE(instance["properties"].contains(k)) << k;
  EXPECT_FALSE(s["properties"]["defaults"]["properties"].contains("sync"));
  EXPECT_EQ(s["$defs"]["sync"]["additionalProperties"], false);
}

TEST(ManifestSchema, CarriesRangesEnumsAndPatterns) {
  json s = manifest::manifest_json_schema();
  const json& props = s["$defs"]["instance"]["properties"];
  // Constrained scalars accept a ${VAR} reference as the second alternative.
  const json& overlap = props["chunk_overlap"]["anyOf"][0];
  EXPECT_EQ(overlap["minimum"], 0);
  EXPECT_EQ(overlap["maximum"], 30);
  EXPECT_EQ(props["chunk_overlap"]["anyOf"][1]["$ref"], "#/$defs/env_reference");
  EXPECT_EQ(props["fusion_method"]["anyOf"][0]["enum"], json({"max", "rrf"}));
  EXPECT_TRUE(props["token_id"]["anyOf"][0].contains("pattern"));
  EXPECT_EQ(props["custom_metadata"]["maxItems"], 20);
  EXPECT_EQ(props["custom_metadata"]["items"]["required"], json({"field_name", "data_type"}));
  // index_method merges with defaults: its required keys are the loader's business.
  EXPECT_FALSE(props["index_method"].contains("required"));
  const json& ids = s["$defs"]["namespace"]["properties"]["instances"]["propertyNames"];
  EXPECT_EQ(ids["pattern"], model::k_instance_id_pattern);
  EXPECT_EQ(s["properties"]["namespaces"]["propertyNames"]["pattern"],
            model::k_namespace_name_pattern);
}
