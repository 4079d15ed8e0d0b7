#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace emulator {

// One input validation failure: the JSON path of the offending field and what is wrong.
struct FieldError {
  std::vector<std::string> path;
  std::string message;
};

enum class InstanceWrite { Create, Update };

// Checks an instance create (POST) or update (PUT) body against API.md §3: types, the id
// pattern, ranges, enums, and the create-only / update-only split. Unknown keys and read-only
// fields are not errors (real servers ignore them). Empty when the body is acceptable.
std::vector<FieldError> validate_instance(const nlohmann::json& body, InstanceWrite mode);

// True when `id` matches ^[a-z0-9_]+(?:-[a-z0-9_]+)*$ and is 1..64 characters.
bool valid_instance_id(const std::string& id);

// True when `name` matches ^[a-z0-9]([a-z0-9-]{0,26}[a-z0-9])?$.
bool valid_namespace_name(const std::string& name);

// Checks a namespace create (`require_name`) or update body (API.md §4).
std::vector<FieldError> validate_namespace(const nlohmann::json& body, bool require_name);

// The instance fields the API knows, in the order responses list them.
const std::vector<std::string>& instance_field_names();

// True for the instance fields a create or update body may set (API.md §3); the others are
// read-only and a body's values for them are ignored.
bool is_writable_field(const std::string& name);

// Fields that only list responses return (GET, create, update and delete leave them out).
bool is_list_only_field(const std::string& name);

}  // namespace emulator
