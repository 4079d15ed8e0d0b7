#include "jobs/webhook.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/poll.hpp"

namespace {

using namespace std::chrono_literals;

// Answers POSTs with a scripted status sequence (the last one repeats) and records the bodies.
class Receiver : public http::Transport {
 public:
  std::vector<int> statuses{200};
  bool block = false;

  util::Result<http::HttpResponse, http::TransportError> send(const http::HttpRequest& r) override {
    std::unique_lock lock(m_mutex);
    m_cv.wait(lock, [&] { return !block; });
    const int status = statuses[std::min(m_calls, statuses.size() - 1)];
    ++m_calls;
    if (status == 0)
      return util::Err(http::TransportError{http::TransportError::Kind::network, "refused"});
    if (status >= 200 && status < 300) {
      m_bodies.push_back(nlohmann::json::parse(r.body));
      m_requests.push_back(r);
    }
    http::HttpResponse resp;
    resp.status = status;
    return resp;
  }
  void release() {
    {
      std::lock_guard lock(m_mutex);
      block = false;
    }
    m_cv.notify_all();
  }
  std::vector<nlohmann::json> bodies() {
    std::lock_guard lock(m_mutex);
    return m_bodies;
  }
  std::vector<http::HttpRequest> requests() {
    std::lock_guard lock(m_mutex);
    return m_requests;
  }
  std::size_t calls() {
    std::lock_guard lock(m_mutex);
    return m_calls;
  }

 private:
  std::mutex m_mutex;
  std::condition_variable m_cv;
  std::size_t m_calls = 0;
  std::vector<nlohmann::json> m_bodies;
  std::vector<http::HttpRequest> m_requests;
};

jobs::WebhookOptions options(jobs::WebhookOptions::NotifyOn on) {
  jobs::WebhookOptions o;
  o.url = "http://127.0.0.1:1/hook";
  o.notify_on = on;
  o.base_delay = 1ms;
  o.max_delay = 4ms;
  return o;
}

state::JobRecord record(const std::string& outcome) {
  state::JobRecord r;
  r.job_id = "job-" + outcome;
  r.outcome = outcome;
  r.trigger = "schedule";
  r.slot = "2026-05-04T11:00:00Z";
  return r;
}

// Waits (real time, with a deadline for a busy machine) until nothing is pending.
bool drained(jobs::WebhookNotifier& n) {
  return support::poll_until([&] { return n.pending() == 0; }, 30s, 1ms);
}

TEST(Webhook, ChangesSendsTheFirstFailureAndTheRecoveryOnly) {
  auto rx = std::make_shared<Receiver>();
  jobs::WebhookNotifier n(options(jobs::WebhookOptions::NotifyOn::changes), rx);
  n.seed("default/docs", "succeeded");
  n.outcome("default/docs", record("succeeded"));  // still fine: quiet
  n.outcome("default/docs", record("failed"));     // broke: sent
  n.outcome("default/docs", record("failed"));     // still broken: quiet
  n.outcome("default/docs", record("skipped"));    // says nothing: quiet
  n.outcome("default/docs", record("timed_out"));  // still broken: quiet
  n.outcome("default/docs", record("succeeded"));  // recovered: sent
  n.outcome("default/docs", record("succeeded"));  // quiet
  ASSERT_TRUE(drained(n));
  const auto bodies = rx->bodies();
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(bodies[0]["event"], "sync_outcome");
  EXPECT_EQ(bodies[0]["outcome"], "failed");
  EXPECT_EQ(bodies[0]["previous_outcome"], "succeeded");
  EXPECT_EQ(bodies[0]["namespace"], "default");
  EXPECT_EQ(bodies[0]["id"], "docs");
  EXPECT_EQ(bodies[0]["slot"], "2026-05-04T11:00:00Z");  // the slot the outcome is for
  EXPECT_EQ(bodies[1]["outcome"], "succeeded");
  EXPECT_EQ(bodies[1]["previous_outcome"], "timed_out");
  EXPECT_EQ(n.counters().filtered, 5u);
}

TEST(Webhook, AFailureWithNothingKnownBeforeIsSent) {
  auto rx = std::make_shared<Receiver>();
  jobs::WebhookNotifier n(options(jobs::WebhookOptions::NotifyOn::changes), rx);
  n.outcome("default/docs", record("failed"));
  n.outcome("support/kb", record("succeeded"));
  ASSERT_TRUE(drained(n));
  ASSERT_EQ(rx->bodies().size(), 1u);
  EXPECT_TRUE(rx->bodies()[0]["previous_outcome"].is_null());
}

TEST(Webhook, AllSendsEveryOutcomeAndStall) {
  auto rx = std::make_shared<Receiver>();
  jobs::WebhookNotifier n(options(jobs::WebhookOptions::NotifyOn::all), rx);
  n.outcome("default/docs", record("succeeded"));
  n.outcome("default/docs", record("succeeded"));
  n.stalled("default/docs", "j9");
  ASSERT_TRUE(drained(n));
  ASSERT_EQ(rx->bodies().size(), 3u);
  EXPECT_EQ(rx->bodies()[2]["event"], "sync_stalled");
  EXPECT_EQ(rx->bodies()[2]["job_id"], "j9");
}

TEST(Webhook, RetriesServerErrorsAndNetworkFailures) {
  auto rx = std::make_shared<Receiver>();
  rx->statuses = {503, 0, 200};
  jobs::WebhookNotifier n(options(jobs::WebhookOptions::NotifyOn::all), rx);
  n.outcome("default/docs", record("failed"));
  ASSERT_TRUE(drained(n));
  EXPECT_EQ(rx->calls(), 3u);
  EXPECT_EQ(rx->bodies().size(), 1u);
  EXPECT_EQ(n.counters().delivered, 1u);
}

TEST(Webhook, DoesNotRetryAClientErrorAndGivesUpAfterMaxAttempts) {
  auto rx = std::make_shared<Receiver>();
  rx->statuses = {400};
  jobs::WebhookNotifier n(options(jobs::WebhookOptions::NotifyOn::all), rx);
  n.outcome("default/docs", record("failed"));
  ASSERT_TRUE(drained(n));
  EXPECT_EQ(rx->calls(), 1u);
  EXPECT_EQ(n.counters().failed, 1u);

  auto rx2 = std::make_shared<Receiver>();
  rx2->statuses = {500};
  jobs::WebhookNotifier n2(options(jobs::WebhookOptions::NotifyOn::all), rx2);
  n2.outcome("default/docs", record("failed"));
  ASSERT_TRUE(drained(n2));
  EXPECT_EQ(rx2->calls(), 5u);
}

TEST(Webhook, NeverBlocksTheCallerAndStopKeepsItsDeadline) {
  auto rx = std::make_shared<Receiver>();
  rx->block = true;
  auto opts = options(jobs::WebhookOptions::NotifyOn::all);
  opts.queue_max = 3;
  jobs::WebhookNotifier n(opts, rx);
  // The receiver is stuck until release(): an outcome() that waited for it would never return.
  for (int i = 0; i < 10; ++i) n.outcome("default/docs", record("failed"));
  EXPECT_LE(n.pending(), 4u);  // bounded: 3 queued + 1 in flight
  EXPECT_GE(n.counters().dropped, 6u);
  rx->release();
  n.stop(2s);
  EXPECT_EQ(n.pending(), 0u);
  EXPECT_GE(rx->bodies().size(), 1u);
}

TEST(Webhook, ChangesSendsTheFirstReconcileFailureOfARunAndTheRecovery) {
  auto rx = std::make_shared<Receiver>();
  jobs::WebhookNotifier n(options(jobs::WebhookOptions::NotifyOn::changes), rx);
  n.reconcile_succeeded();  // nothing failed before: no event
  n.reconcile_failed("namespace list failed: timeout", 1);
  n.reconcile_failed("namespace list failed: timeout", 2);  // still failing: quiet
  n.reconcile_failed("every instance list failed", 3);      // quiet
  n.reconcile_succeeded();                                  // recovered: sent
  n.reconcile_succeeded();                                  // nothing to say
  n.reconcile_failed("2 action(s) failed", 1);              // a new run: sent again
  ASSERT_TRUE(drained(n));
  const auto bodies = rx->bodies();
  ASSERT_EQ(bodies.size(), 3u);
  EXPECT_EQ(bodies[0], nlohmann::json({{"event", "reconcile_failed"},
                                       {"error", "namespace list failed: timeout"},
                                       {"consecutive_failures", 1}}));
  EXPECT_EQ(bodies[1], nlohmann::json({{"event", "reconcile_recovered"},
                                       {"failed_cycles", 3},
                                       {"last_error", "every instance list failed"}}));
  EXPECT_EQ(bodies[2]["event"], "reconcile_failed");
  EXPECT_EQ(bodies[2]["error"], "2 action(s) failed");
  EXPECT_EQ(n.counters().filtered, 2u);
  EXPECT_EQ(n.counters().delivered, 3u);
}

TEST(Webhook, AllSendsEveryFailedReconcileCycle) {
  auto rx = std::make_shared<Receiver>();
  jobs::WebhookNotifier n(options(jobs::WebhookOptions::NotifyOn::all), rx);
  n.reconcile_failed("boom", 1);
  n.reconcile_failed("boom", 2);
  n.reconcile_failed("bang", 3);
  n.reconcile_succeeded();
  n.reconcile_succeeded();
  ASSERT_TRUE(drained(n));
  const auto bodies = rx->bodies();
  ASSERT_EQ(bodies.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(bodies[i]["event"], "reconcile_failed");
    EXPECT_EQ(bodies[i]["consecutive_failures"], i + 1);
  }
  EXPECT_EQ(bodies[3]["event"], "reconcile_recovered");
  EXPECT_EQ(bodies[3]["failed_cycles"], 3);
  EXPECT_EQ(bodies[3]["last_error"], "bang");
  EXPECT_EQ(n.counters().filtered, 0u);
}

TEST(Webhook, AReconcileEventNeverCarriesTheTokenOrACredential) {
  const std::string token = "cf-token-0123456789abcdefXYZ";
  auto rx = std::make_shared<Receiver>();
  auto opts = options(jobs::WebhookOptions::NotifyOn::all);
  opts.secret = token;
  jobs::WebhookNotifier n(opts, rx);
  n.reconcile_failed("refused with " + token + "; header Authorization: Bearer abc.def-ghi\n" +
                         std::string(1000, 'x'),
                     1);
  n.reconcile_succeeded();
  ASSERT_TRUE(drained(n));
  const auto bodies = rx->bodies();
  ASSERT_EQ(bodies.size(), 2u);
  for (const auto& b : bodies) {
    const std::string text = b.dump();
    EXPECT_EQ(text.find(token), std::string::npos) << text;
    EXPECT_EQ(text.find("abc.def-ghi"), std::string::npos) << text;
    EXPECT_NE(text.find("[redacted]"), std::string::npos) << text;
    EXPECT_FALSE(b.contains("address"));  // daemon-wide, not about one instance or node
  }
  EXPECT_LE(bodies[0]["error"].get<std::string>().size(), 310u);  // cut, not 1,000 bytes
}

TEST(Webhook, AReconcileEventIsRetriedAndCountedLikeAJobEvent) {
  auto rx = std::make_shared<Receiver>();
  rx->statuses = {0, 502, 200};
  jobs::WebhookNotifier n(options(jobs::WebhookOptions::NotifyOn::changes), rx);
  n.reconcile_failed("every instance list failed", 1);
  ASSERT_TRUE(drained(n));
  EXPECT_EQ(rx->calls(), 3u);
  ASSERT_EQ(rx->bodies().size(), 1u);
  EXPECT_EQ(n.counters().delivered, 1u);

  auto rx2 = std::make_shared<Receiver>();
  rx2->statuses = {404};
  jobs::WebhookNotifier n2(options(jobs::WebhookOptions::NotifyOn::changes), rx2);
  n2.reconcile_failed("every instance list failed", 1);
  ASSERT_TRUE(drained(n2));
  EXPECT_EQ(rx2->calls(), 1u);
  EXPECT_EQ(n2.counters().failed, 1u);

  auto rx3 = std::make_shared<Receiver>();
  jobs::WebhookNotifier n3(options(jobs::WebhookOptions::NotifyOn::all), rx3);
  n3.stop(0ms);
  n3.reconcile_failed("late", 1);  // after stop: dropped, not sent
  EXPECT_EQ(n3.counters().dropped, 1u);
  EXPECT_EQ(rx3->calls(), 0u);
}

TEST(Webhook, NotifyOnParses) {
  EXPECT_TRUE(jobs::parse_notify_on("changes").ok());
  EXPECT_TRUE(jobs::parse_notify_on("all").ok());
  EXPECT_FALSE(jobs::parse_notify_on("sometimes").ok());
}

// Issue 13, defect 12: the body is signed with the configured secret (HMAC-SHA256).
TEST(Webhook, TheBodyIsSignedWithTheSecret) {
  auto rx = std::make_shared<Receiver>();
  auto o = options(jobs::WebhookOptions::NotifyOn::all);
  o.signing_secret = "s3cret";
  jobs::WebhookNotifier n(o, rx);
  n.outcome("default/docs", record("failed"));
  ASSERT_TRUE(drained(n));
  const auto requests = rx->requests();
  ASSERT_EQ(requests.size(), 1u);
  std::string signature;
  for (const auto& [name, value] : requests[0].headers)
    if (name == "X-Aisearchd-Signature") signature = value;
  EXPECT_EQ(signature, jobs::webhook_signature("s3cret", requests[0].body));
  EXPECT_EQ(signature.rfind("sha256=", 0), 0u);
  EXPECT_EQ(signature.size(), 7u + 64u);
  // RFC 4231 test case 2.
  EXPECT_EQ(jobs::webhook_signature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// Issue 13, defect 12: log lines and end_reason go out redacted and bounded.
TEST(Webhook, LogTailAndEndReasonAreRedactedAndBounded) {
  auto rx = std::make_shared<Receiver>();
  auto o = options(jobs::WebhookOptions::NotifyOn::all);
  o.secret = "api-token-123";
  jobs::WebhookNotifier n(o, rx);
  auto r = record("failed");
  r.end_reason = "error: Authorization: Bearer api-token-123 refused";
  for (int i = 0; i < 30; ++i) r.log_tail.push_back("line " + std::to_string(i));
  r.log_tail.push_back(std::string(5000, 'x'));
  r.log_tail.push_back("fetch with token api-token-123 failed");
  n.outcome("default/docs", r);
  ASSERT_TRUE(drained(n));
  const auto bodies = rx->bodies();
  ASSERT_EQ(bodies.size(), 1u);
  const std::string text = bodies[0].dump();
  EXPECT_EQ(text.find("api-token-123"), std::string::npos) << text;
  EXPECT_LE(bodies[0]["log_tail"].size(), 20u);
  for (const auto& line : bodies[0]["log_tail"]) EXPECT_LE(line.get<std::string>().size(), 303u);
  EXPECT_EQ(bodies[0]["log_tail"].back(), "fetch with token [redacted] failed");
}

// Issue 13, defect 12: failed, then skipped, then a restart: the next success is a recovery.
TEST(Webhook, ARecoveryAfterARestartIsSentPastASkippedRun) {
  auto rx = std::make_shared<Receiver>();
  jobs::WebhookNotifier n(options(jobs::WebhookOptions::NotifyOn::changes), rx);
  std::deque<state::JobRecord> history{record("succeeded"), record("failed"), record("skipped")};
  n.seed_history("default/docs", history);
  n.outcome("default/docs", record("succeeded"));
  ASSERT_TRUE(drained(n));
  const auto bodies = rx->bodies();
  ASSERT_EQ(bodies.size(), 1u);
  EXPECT_EQ(bodies[0]["outcome"], "succeeded");
  EXPECT_EQ(bodies[0]["previous_outcome"], "failed");
}

}  // namespace
