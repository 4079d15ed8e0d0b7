#include <gtest/gtest.h>

#include <memory>

#include <nlohmann/json.hpp>

#include "state/backend.hpp"
#include "state/etcd_store.hpp"
#include "state/leader.hpp"
#include "support/fake_transport.hpp"
#include "util/base64.hpp"
#include "util/clock.hpp"

namespace {

using support::FakeTransport;
using support::RecordedRequest;

std::shared_ptr<state::EtcdClient> client_over(std::shared_ptr<FakeTransport> fake) {
  state::EtcdOptions o;
  o.endpoints = {support::k_fake_api_url};  // paths then read "/v3/..."
  o.prefix = "/p/";
  return std::make_shared<state::EtcdClient>(o, fake);
}

std::string b64(const std::string& s) {
  return util::base64_encode(s);
}

// The answers etcd gives node-a's first campaign for an absent key: lease 42, revision 2.
void answer_first_campaign(FakeTransport& fake) {
  fake.push_json(200, {{"header", {{"revision", "1"}}}});                       // range: absent
  fake.push_json(200, {{"ID", "42"}, {"TTL", "15"}});                           // grant
  fake.push_json(200, {{"header", {{"revision", "2"}}}, {"succeeded", true}});  // txn
}

// node-a with TTL 15 s over a fake etcd, its first campaign's answers queued.
struct NodeA {
  static state::LeaderOptions make_options() {
    state::LeaderOptions o;
    o.node_name = "node-a";
    o.ttl = std::chrono::seconds(15);
    return o;
  }
  NodeA() { answer_first_campaign(*fake); }
  std::shared_ptr<FakeTransport> fake = std::make_shared<FakeTransport>();
  util::FakeClock clock{std::chrono::system_clock::time_point{}};
  state::LeaderOptions options = make_options();
  state::LeaderElector elector{client_over(fake), options, clock};
};

TEST(EtcdBackend, AnUnreadableTlsFileIsAnErrorAtStartNamingTheKey) {
  state::BackendConfig b;
  b.type = state::BackendConfig::Type::etcd;
  b.ca_file = "/nonexistent/ca.pem";
  auto c = state::make_etcd_client(b);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find("ca_file"), std::string::npos) << c.error();
  EXPECT_NE(c.error().find("/nonexistent/ca.pem"), std::string::npos) << c.error();
}

TEST(EtcdStateStore, SaveComparesTheRevisionItRead) {
  auto fake = std::make_shared<FakeTransport>();
  state::EtcdStateStore store(client_over(fake));
  state::State s;
  s.owned["default/kb"] =
      state::OwnedInstance{"default", "kb", true, "2024-01-01T00:00:00Z", {}, {}};
  fake->push_json(200, {{"header", {{"revision", "7"}}},
                        {"kvs",
                         {{{"key", b64("/p/state")},
                           {"value", b64(s.to_json().dump())},
                           {"mod_revision", "7"},
                           {"create_revision", "3"}}}}});
  auto loaded = store.load();
  ASSERT_TRUE(loaded.ok()) << loaded.error();
  EXPECT_TRUE(loaded->owns("default", "kb"));
  EXPECT_EQ(store.revision(), 7);

  fake->push_json(200, {{"header", {{"revision", "9"}}}, {"succeeded", true}});
  ASSERT_TRUE(store.save(*loaded).ok());
  auto txn = fake->requests().back().json();
  EXPECT_EQ(fake->requests().back().path, "/v3/kv/txn");
  EXPECT_EQ(txn["compare"][0]["target"], "MOD");
  EXPECT_EQ(txn["compare"][0]["mod_revision"], "7");
  EXPECT_EQ(store.revision(), 9);

  // Someone else wrote meanwhile: the save fails and says so, and the next save still compares
  // against 9 (no silent overwrite).
  fake->push_json(
      200,
      {{"header", {{"revision", "12"}}},
       {"responses",
        {{{"response_range",
           {{"kvs",
             {{{"key", b64("/p/state")}, {"value", b64("{}")}, {"mod_revision", "11"}}}}}}}}}});
  auto conflict = store.save(*loaded);
  ASSERT_FALSE(conflict.ok());
  EXPECT_NE(conflict.error().find("changed since it was read"), std::string::npos)
      << conflict.error();
  ASSERT_TRUE(store.last_error().has_value());
  EXPECT_EQ(store.last_error()->kind, state::EtcdError::Kind::conflict);
  EXPECT_EQ(store.revision(), 9);
}

TEST(EtcdStateStore, RefusesToSaveBeforeLoadAndWithoutLeadership) {
  auto fake = std::make_shared<FakeTransport>();
  state::EtcdStateStore store(client_over(fake), [] { return std::optional<state::EtcdFence>{}; });
  EXPECT_FALSE(store.save(state::State{}).ok());
  fake->push_json(200, {{"header", {{"revision", "1"}}}});
  ASSERT_TRUE(store.load().ok());
  auto r = store.save(state::State{});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("not the leader"), std::string::npos);
  EXPECT_EQ(fake->request_count(), 1u);  // the load only: nothing was sent
}

TEST(EtcdStateStore, FencedSaveNamesTheNewLeader) {
  auto fake = std::make_shared<FakeTransport>();
  state::EtcdStateStore store(client_over(fake), [] {
    return std::optional<state::EtcdFence>(state::EtcdFence{"/p/leader", 5});
  });
  fake->push_json(200, {{"header", {{"revision", "6"}}}});
  ASSERT_TRUE(store.load().ok());
  fake->push_json(200, {{"header", {{"revision", "20"}}},
                        {"responses",
                         {{{"response_range", nlohmann::json::object()}},
                          {{"response_range",
                            {{"kvs",
                              {{{"key", b64("/p/leader")},
                                {"value", b64("node-b")},
                                {"create_revision", "19"}}}}}}}}}});
  auto r = store.save(state::State{});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("'node-b'"), std::string::npos) << r.error();
  ASSERT_TRUE(store.last_error().has_value());
  EXPECT_EQ(store.last_error()->kind, state::EtcdError::Kind::fenced);
  auto txn = fake->requests().back().json();
  ASSERT_EQ(txn["compare"].size(), 2u);
  EXPECT_EQ(txn["compare"][1]["target"], "CREATE");
  EXPECT_EQ(txn["compare"][1]["create_revision"], "5");
}

TEST(EtcdStateStore, UnreachableEtcdIsAnErrorNotACrash) {
  auto fake = std::make_shared<FakeTransport>();
  state::EtcdStateStore store(client_over(fake));
  fake->push_error(http::TransportError::Kind::network, "connection refused");
  auto r = store.load();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("connection refused"), std::string::npos);
}

// Error kinds come from the transport and the gateway's gRPC code, never from the message text.
TEST(EtcdClient, ErrorKindsComeFromTheGatewaysCode) {
  auto fake = std::make_shared<FakeTransport>();
  auto client = client_over(fake);
  fake->push_error(http::TransportError::Kind::network, "connection refused");
  auto r = client->call("/v3/kv/range", "{}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, state::EtcdError::Kind::unreachable);

  fake->push_json(403, {{"code", 7}, {"message", "etcdserver: permission denied"}});
  r = client->call("/v3/kv/put", "{}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, state::EtcdError::Kind::auth);
  EXPECT_NE(r.error().message.find("permission denied"), std::string::npos);

  // A message that mentions a token is not an auth error unless the code says so.
  fake->push_json(400, {{"code", 3}, {"message", "etcdserver: token value too large"}});
  r = client->call("/v3/kv/put", "{}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, state::EtcdError::Kind::refused);

  fake->push(FakeTransport::text_response(500, "<html>oops</html>"));
  r = client->call("/v3/kv/put", "{}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, state::EtcdError::Kind::bad_answer);
}

// An expired token (gRPC 16, Unauthenticated) is dropped: the next call authenticates again;
// a permission error (gRPC 7) keeps the token.
TEST(EtcdClient, AnExpiredTokenIsReplacedOnTheNextCall) {
  auto fake = std::make_shared<FakeTransport>();
  state::EtcdOptions o;
  o.endpoints = {support::k_fake_api_url};
  o.prefix = "/p/";
  o.username = "aisearchd";
  o.password = "pw";
  state::EtcdClient client(o, fake);
  int authentications = 0;
  fake->on("POST", "/v3/auth/authenticate", [&](const RecordedRequest&) {
    ++authentications;
    return FakeTransport::json_response(200, {{"token", "t" + std::to_string(authentications)}});
  });
  std::vector<std::string> seen;
  int answer = 0;
  fake->on("POST", "/v3/kv/range", [&](const RecordedRequest& r) {
    seen.push_back(r.header("Authorization"));
    ++answer;
    if (answer == 2)
      return FakeTransport::json_response(
          401, {{"code", 16}, {"message", "etcdserver: invalid auth token"}});
    if (answer == 3)
      return FakeTransport::json_response(
          403, {{"code", 7}, {"message", "etcdserver: permission denied"}});
    return FakeTransport::json_response(200, {{"header", {{"revision", "1"}}}});
  });
  EXPECT_TRUE(client.call("/v3/kv/range", "{}").ok());
  auto expired = client.call("/v3/kv/range", "{}");
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().kind, state::EtcdError::Kind::auth);
  EXPECT_FALSE(client.call("/v3/kv/range", "{}").ok());  // permission denied: token kept
  EXPECT_TRUE(client.call("/v3/kv/range", "{}").ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"t1", "t1", "t2", "t2"}));
  EXPECT_EQ(authentications, 2);
}

TEST(LeaderElector, StopsLeadingWhenTheLeaseDeadlinePassesWithoutRenewal) {
  NodeA node;
  auto& fake = node.fake;
  auto& clock = node.clock;
  auto& elector = node.elector;
  auto r = elector.step();
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_TRUE(*r);
  EXPECT_TRUE(elector.is_leader());
  ASSERT_TRUE(elector.fence().has_value());
  EXPECT_EQ(elector.fence()->create_revision, 2);

  // etcd goes away: still leader until the deadline, then not, without any further request.
  fake->push_error(http::TransportError::Kind::network, "connection refused");
  clock.advance(std::chrono::seconds(5));
  EXPECT_FALSE(elector.step().ok());
  EXPECT_TRUE(elector.is_leader());
  clock.advance(std::chrono::seconds(10));
  EXPECT_FALSE(elector.is_leader());
  EXPECT_FALSE(elector.fence().has_value());
  fake->on("POST", "/v3/lease/revoke", [](const RecordedRequest&) {
    return FakeTransport::json_response(200, nlohmann::json::object());
  });
}

TEST(LeaderElector, ALapsedLeadershipWhoseKeyEtcdKeptResumesWithTheSameFence) {
  NodeA node;
  auto& fake = node.fake;
  auto& clock = node.clock;
  auto& elector = node.elector;
  ASSERT_TRUE(elector.step().ok());
  ASSERT_TRUE(elector.is_leader());

  // Renewals fail past the deadline (an etcd outage): the leadership lapses on this clock.
  fake->push_error(http::TransportError::Kind::network, "connection refused");
  clock.advance(std::chrono::seconds(16));
  EXPECT_FALSE(elector.step().ok());
  EXPECT_FALSE(elector.is_leader());

  // etcd is back and still holds our key under lease 42 (its leases restart their TTL when it
  // restarts): renewed, leading again, same fence. Nobody else can have led meanwhile.
  fake->push_json(200, {{"kvs",
                         {{{"key", b64("/p/leader")},
                           {"value", b64("node-a")},
                           {"create_revision", "2"},
                           {"lease", "42"}}}}});
  fake->push_json(200, {{"result", {{"ID", "42"}, {"TTL", "15"}}}});  // keepalive
  auto r = elector.step();
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_TRUE(*r);
  ASSERT_TRUE(elector.fence().has_value());
  EXPECT_EQ(elector.fence()->create_revision, 2);
  EXPECT_EQ(elector.leader_name(), "node-a");

  // A key with our name under another lease is not ours: no resumption.
  state::LeaderElector other(client_over(fake), node.options, clock);
  fake->push_json(200, {{"kvs",
                         {{{"key", b64("/p/leader")},
                           {"value", b64("node-a")},
                           {"create_revision", "2"},
                           {"lease", "42"}}}}});
  auto o = other.step();
  ASSERT_TRUE(o.ok());
  EXPECT_FALSE(*o);
  fake->on("POST", "/v3/lease/revoke", [](const RecordedRequest&) {
    return FakeTransport::json_response(200, nlohmann::json::object());
  });
}

TEST(LeaderElector, StandbyNamesTheHolderAndDoesNotCampaign) {
  auto fake = std::make_shared<FakeTransport>();
  util::FakeClock clock(std::chrono::system_clock::time_point{});
  state::LeaderOptions lo;
  lo.node_name = "node-b";
  state::LeaderElector elector(client_over(fake), lo, clock);
  fake->push_json(
      200,
      {{"kvs", {{{"key", b64("/p/leader")}, {"value", b64("node-a")}, {"create_revision", "2"}}}}});
  auto r = elector.step();
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(*r);
  EXPECT_EQ(elector.leader_name(), "node-a");
  EXPECT_EQ(fake->request_count(), 1u);  // one read per round, no lease granted
}

}  // namespace
