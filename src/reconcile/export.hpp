#pragma once

// `aisearchd export`: the remote state as a manifest (the inverse of diff). Pure: no I/O.

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "reconcile/diff.hpp"
#include "util/result.hpp"

namespace reconcile {

// A manifest document as JSON (what manifest::emit_yaml writes):
//   {"apiVersion": "aisearchd/v1",
//    "namespaces": {NAME: {"description"?: ..., "instances"?: {ID: {"managed"?: true, FIELD...}}}}}
// Objects are nlohmann's sorted maps, so namespaces, instances and keys come out sorted.
struct ExportedManifest {
  nlohmann::json document = nlohmann::json::object();
  // What could not be written, one "NS/ID: path: why" (or "NS: why") each, in namespace,
  // instance and path order. Values are never quoted in them (they may be secret).
  std::vector<std::string> left_out;
  // "NS/ID: path" of each exported value that is secret (include_headers and names like one).
  std::vector<std::string> secrets;
  // API fields the manifest does not know, found at the top level of some instance (not the
  // ones the server adds: ids, timestamps, status, ...): each name once, sorted.
  std::vector<std::string> unknown_fields;
  std::size_t namespaces = 0;
  std::size_t instances = 0;
};

// The manifest of `namespaces` (each must be in `observed.listings`, listed completely) as the
// remote has them: per instance only the API fields whose value differs from the server's
// default for a new instance (API.md §3, §11; what the bundled emulator fills in), with no null,
// empty list or empty object, no read-only or server-added field (id, namespace, status,
// timestamps, created_by/modified_by, ...), no token_id (write-only: read back as null) and no
// hybrid_search_enabled beside index_method (the same thing, deprecated). An instance without a
// source is `managed: true` (upload-only storage). A non-default namespace's description is
// kept. Values are checked against the field catalogue: an enum is written in its catalogue
// spelling, an integral number of an integer field as an integer; a value of the wrong kind, out
// of range, or a key the catalogue does not know inside a typed object is left out (listed in
// `left_out`); so is an instance whose id no manifest can declare, and a namespace whose name
// none can.
//
// Fails (nothing exported) when the namespace list failed, or any of `namespaces` was not
// listed, its list failed or was partial; the message names each such namespace and why.
util::Result<ExportedManifest, std::string> export_manifest(
    const Observed& observed, const std::vector<std::string>& namespaces);

// One instance's API object as manifest fields (the rule above). `address` ("NS/ID") prefixes
// what goes to `out.left_out` and `out.secrets`.
nlohmann::json export_instance(const nlohmann::json& remote, const std::string& address,
                               ExportedManifest& out);

}  // namespace reconcile
