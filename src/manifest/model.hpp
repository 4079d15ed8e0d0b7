#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace manifest {

// Where something was written: file:line:column (1-based), for every error message.
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
  std::string to_string() const;  // "file:line:column" ("file" alone when line is 0)
};

// `sync:` of an instance (PRODUCT.md §4, §7). Exactly one of schedule / every is set.
struct SyncSpec {
  enum class Concurrency { forbid, replace };
  std::optional<std::string> schedule;  // 5-field cron or @hourly/@daily/...
  std::optional<std::chrono::milliseconds> every;
  std::string timezone = "UTC";
  std::chrono::milliseconds jitter{0};
  bool on_change = false;
  Concurrency concurrency = Concurrency::forbid;
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<std::chrono::milliseconds> max_staleness;
  bool suspend = false;
  SourceLocation where;
};

// One desired instance, with defaults already merged under it.
struct InstanceSpec {
  std::string ns;
  std::string id;
  // The API fields the manifest sets (after the defaults merge), as the API's JSON.
  nlohmann::json fields = nlohmann::json::object();
  bool protect = false;
  bool allow_replace = false;
  bool suspend = false;  // leave this instance alone entirely
  bool managed = false;  // upload-only storage: no type, no source (PRODUCT.md §4)
  std::vector<std::string> ignore_changes;  // top-level field names or dotted paths
  std::optional<SyncSpec> sync;
  SourceLocation where;

  std::string address() const { return ns + "/" + id; }
};

struct NamespaceSpec {
  std::string name;
  std::optional<std::string> description;  // set only when the manifest says so
  bool prune = false;
  int max_deletes = 1;
  bool suspend = false;
  std::map<std::string, InstanceSpec> instances;  // by id
  SourceLocation where;
};

struct Manifest {
  std::string api_version = "aisearchd/v1";
  std::optional<std::string> account_id;
  std::map<std::string, NamespaceSpec> namespaces;  // by name
  std::vector<std::string> files;                   // the files it was read from

  std::size_t instance_count() const;
};

struct ManifestError {
  SourceLocation where;
  std::string message;
  std::string to_string() const;  // "file:line:column: message"
};

}  // namespace manifest
