#include "daemon/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>
#include <vector>

namespace {

using service::MetricsRegistry;

TEST(Metrics, RendersHelpTypeAndSortedSeries) {
  MetricsRegistry m;
  m.describe("aisearchd_b_total", MetricsRegistry::Type::counter, "B things.");
  m.describe("aisearchd_a", MetricsRegistry::Type::gauge, "A level.");
  m.inc("aisearchd_b_total", {{"result", "ok"}});
  m.inc("aisearchd_b_total", {{"result", "ok"}}, 2);
  m.inc("aisearchd_b_total", {{"result", "failed"}});
  m.set("aisearchd_a", 0.5);
  EXPECT_EQ(m.render(),
            "# HELP aisearchd_a A level.\n"
            "# TYPE aisearchd_a gauge\n"
            "aisearchd_a 0.5\n"
            "# HELP aisearchd_b_total B things.\n"
            "# TYPE aisearchd_b_total counter\n"
            "aisearchd_b_total{result=\"failed\"} 1\n"
            "aisearchd_b_total{result=\"ok\"} 3\n");
}

TEST(Metrics, EscapesLabelValuesAndHelp) {
  MetricsRegistry m;
  m.describe("aisearchd_x", MetricsRegistry::Type::gauge, "line\nbreak \\ here");
  m.set("aisearchd_x", {{"instance", "a\"b\\c\nd"}}, 1);
  auto text = m.render();
  EXPECT_NE(text.find("# HELP aisearchd_x line\\nbreak \\\\ here\n"), std::string::npos) << text;
  EXPECT_NE(text.find("aisearchd_x{instance=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos) << text;
}

TEST(Metrics, CountersNeverGoDownAndUnknownFamiliesAreIgnored) {
  MetricsRegistry m;
  m.describe("aisearchd_c_total", MetricsRegistry::Type::counter, "C.");
  m.inc("aisearchd_c_total", {}, 5);
  m.inc("aisearchd_c_total", {}, -3);
  m.inc("aisearchd_undeclared_total");
  EXPECT_EQ(m.value("aisearchd_c_total"), 5);
  EXPECT_EQ(m.render().find("undeclared"), std::string::npos);
}

TEST(Metrics, ClearDropsSeriesButKeepsTheFamily) {
  MetricsRegistry m;
  m.describe("aisearchd_f", MetricsRegistry::Type::gauge, "F.");
  m.set("aisearchd_f", {{"instance", "a"}}, 3);
  m.clear("aisearchd_f");
  EXPECT_EQ(m.render(), "# HELP aisearchd_f F.\n# TYPE aisearchd_f gauge\n");
}

TEST(Metrics, SampleFormatting) {
  EXPECT_EQ(service::format_sample(42), "42");
  EXPECT_EQ(service::format_sample(-1), "-1");
  EXPECT_EQ(service::format_sample(1.25), "1.25");
  EXPECT_EQ(service::format_sample(0.1), "0.1");
  EXPECT_EQ(service::format_sample(1.7e9), "1700000000");
  EXPECT_EQ(service::format_sample(NAN), "NaN");
  EXPECT_EQ(service::format_sample(INFINITY), "+Inf");
  EXPECT_EQ(service::format_sample(-INFINITY), "-Inf");
}

TEST(Metrics, ConcurrentIncrementsAreNotLost) {
  MetricsRegistry m;
  m.describe("aisearchd_n_total", MetricsRegistry::Type::counter, "N.");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&m] {
      for (int i = 0; i < 1000; ++i) m.inc("aisearchd_n_total", {{"k", "v"}});
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(m.value("aisearchd_n_total", {{"k", "v"}}), 4000);
}

}  // namespace
