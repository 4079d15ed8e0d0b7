#pragma once

// An in-memory Cloudflare AI Search account behind http::Transport: the reference model of the
// remote side for the model-based safety checker and for unit tests of apply.
//
//   auto remote = std::make_shared<support::ReferenceRemote>();
//   remote->add_instance("default", {{"id", "docs"}, {"type", "r2"}, {"source", "b"}});
//   remote->fault_at(3, support::ReferenceRemote::Fault::lost);   // the 4th request's answer is
//   lost api::Client client(config, remote, clock);                    // config.api_url =
//   k_fake_api_url
//
// It behaves as API.md describes the service, including what §11/§12 report of the real one: a
// list is paged with result_info (page, per_page, count, total_count); a create of an id that
// exists answers 400 code 7022; an unknown instance answers 404 code 7002, an unknown namespace
// 404 code 7063; the PATCH move answers an empty result; a stored instance gets server defaults
// and read-only fields (status, created_at, modified_by, chunk_size, ...), `token_id` reads back
// as null (write-only), every `retrieval_options.boost_by[]` item gains `dataType`, and
// `public_endpoint_params` is stored whole with its server defaults filled in.
//
// Faults are scheduled by request number (0-based, every request counts):
//   fail   the request is not applied and answers 500 (the client may retry it);
//   lost   a write is applied, then the connection drops: the client sees a transport error;
//   short  a list page leaves one item out while total_count stays the same (an empty page has
//          nothing to leave out: it answers as it is);
//   kill   the process dies here: this and every later request fails without being applied,
//          until revive() (a new process).
// Every applied write is recorded (writes()). Thread-safe.

#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/transport.hpp"

namespace support {

class ReferenceRemote final : public http::Transport {
 public:
  // short_page: the page leaves an item out, total_count unchanged. shifted_page: the last page
  // of a list (page 2 on) is read as if, since the earlier pages, someone had deleted an instance
  // listed on them and added another: the page's first item moved up a page and is never seen,
  // and a new item ends the list, so the pages still add up to total_count (offset paging's race).
  enum class Fault { none, fail, lost, short_page, kill, shifted_page };

  struct Write {
    std::string method;  // POST (create) PUT PATCH (move) DELETE; "POST ns" for a namespace
    std::string ns, id;
    std::string to_ns;    // PATCH: the namespace it moved to
    nlohmann::json body;  // as sent
  };

  explicit ReferenceRemote(std::string account = "acc");

  util::Result<http::HttpResponse, http::TransportError> send(const http::HttpRequest& r) override;

  // The account's content. add_instance stores `object` as the service would after a create.
  void add_namespace(const std::string& name);
  void add_instance(const std::string& ns, const nlohmann::json& object);
  void remove_instance(const std::string& ns, const std::string& id);
  // Changes a field as someone else would (drift); null removes it.
  void set_field(const std::string& ns, const std::string& id, const std::string& field,
                 const nlohmann::json& value);
  std::set<std::string> namespaces() const;
  // ns -> id -> the object as a GET returns it.
  std::map<std::string, std::map<std::string, nlohmann::json>> instances() const;
  bool has(const std::string& ns, const std::string& id) const;

  void fault_at(std::size_t request, Fault fault);
  void clear_faults();
  std::size_t request_count() const;
  bool killed() const;
  void revive();
  std::vector<Write> writes() const;
  void clear_writes();
  // The namespaces whose instance list the client did not receive completely since the last
  // clear_writes(): a page whose last answer was a fault (fail, lost, short, kill), even if a
  // later page answered; not a shifted page (see Fault). "" stands for the namespace list.
  std::set<std::string> incomplete_lists() const;
  // Called (with the remote's lock held: it must not call back) when a kill fault fires.
  void on_kill(std::function<void()> hook);

 private:
  struct Stored {
    nlohmann::json object;  // what a GET returns (token_id as null)
  };
  http::HttpResponse handle(const std::string& method, const std::vector<std::string>& path,
                            const std::map<std::string, std::string>& query,
                            const nlohmann::json& body, Fault fault, bool& applied);
  nlohmann::json stored_form(const std::string& ns, nlohmann::json object) const;

  const std::string m_account;
  mutable std::mutex m_mutex;
  std::set<std::string> m_namespaces;
  std::map<std::string, std::map<std::string, Stored>> m_instances;
  std::map<std::size_t, Fault> m_faults;
  std::size_t m_requests = 0;
  bool m_killed = false;
  std::vector<Write> m_writes;
  std::map<std::string, std::map<int, bool>> m_list_pages;  // list -> page -> last answer ok
  std::function<void()> m_on_kill;
  int m_clock = 0;              // a logical modified_at
  mutable int m_creations = 0;  // a distinct created_at per instance made
};

}  // namespace support
