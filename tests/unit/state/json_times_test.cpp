// Issue 18, item 7: JSON outputs say null, never "", for a time that is absent (a job that has
// not ended, a schedule not yet seen), in the state file and in what `sync -o json`, `status -o
// json` and the webhook print from it; and a state written before (with "") still loads.
#include <gtest/gtest.h>

#include "state/state.hpp"

using nlohmann::json;

TEST(JsonTimes, AbsentTimesAreNullAndPresentOnesStrings) {
  state::JobRecord running;
  running.job_id = "j1";
  running.started_at = "2026-12-07T00:00:00Z";
  const json j = state::job_record_json(running);
  EXPECT_EQ(j["started_at"], "2026-12-07T00:00:00Z");
  EXPECT_TRUE(j["ended_at"].is_null()) << j.dump();

  state::State s;
  s.sync["default/docs"].history.push_back(running);
  s.owned["default/docs"].ns = "default";
  s.owned["default/docs"].id = "docs";
  const json file = s.to_json();
  const json& sync = file["sync"]["default/docs"];
  for (const char* key : {"last_slot", "first_seen", "last_success"})
    EXPECT_TRUE(sync[key].is_null()) << key << ": " << sync.dump();
  EXPECT_TRUE(file["owned"]["default/docs"]["adopted_at"].is_null());

  auto back = state::State::from_json(file);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->sync["default/docs"].history.front().ended_at, "");
  EXPECT_EQ(back->to_json(), file);
}

TEST(JsonTimes, AStateWrittenWithEmptyStringsStillLoads) {
  const json old = json::parse(R"({"version": 1, "owned": {}, "sync": {"default/docs": {
      "last_slot": "", "first_seen": "", "last_success": "", "last_job_id": "",
      "history": [{"job_id": "j", "outcome": "failed", "trigger": "manual", "source": "user",
                   "started_at": "2026-12-07T00:00:00Z", "ended_at": "", "duration_seconds": 0,
                   "end_reason": "", "log_tail": [], "error_counts": {}}]}}})");
  auto s = state::State::from_json(old);
  ASSERT_TRUE(s.ok()) << s.error();
  EXPECT_TRUE(s->to_json()["sync"]["default/docs"]["history"][0]["ended_at"].is_null());
}
