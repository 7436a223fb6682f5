#include "base/metrics.h"

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace overdue::base {
namespace {

TEST(MetricsRegistryTest, RendersTextFormatExactly) {
  MetricsRegistry r;
  Counter& ok = r.AddCounter("overdue_checkins_total", "Check-ins received, by signal.",
                             {{"signal", "success"}});
  Counter& fail = r.AddCounter("overdue_checkins_total", "ignored: the family has its help",
                               {{"signal", "fail"}});
  Gauge& g = r.AddGauge("overdue_connections", "Open connections.");
  Histogram& h = r.AddHistogram("overdue_lag_seconds", "Lag.\nSecond line with \\.", {0.01, 0.1, 1},
                                {{"shard", "a\"b\\c\nd"}});
  r.AddGaugeFunction("overdue_watches", "Watches by state.", {{"state", "up"}},
                     [] { return 12.0; });
  r.AddGaugeFunction("overdue_watches", "Watches by state.", {{"state", "down"}},
                     [] { return 0.5; });
  r.AddCounter("overdue_requests_total", "Requests.", {{"a", "1"}, {"b", "2"}});

  ok.Inc();
  ok.Inc(2);
  fail.Inc();
  g.Set(7);
  g.Add(-2);
  h.Observe(0.005);
  h.Observe(0.1);
  h.Observe(3);

  EXPECT_EQ(r.Render(),
            "# HELP overdue_checkins_total Check-ins received, by signal.\n"
            "# TYPE overdue_checkins_total counter\n"
            "overdue_checkins_total{signal=\"success\"} 3\n"
            "overdue_checkins_total{signal=\"fail\"} 1\n"
            "# HELP overdue_connections Open connections.\n"
            "# TYPE overdue_connections gauge\n"
            "overdue_connections 5\n"
            "# HELP overdue_lag_seconds Lag.\\nSecond line with \\\\.\n"
            "# TYPE overdue_lag_seconds histogram\n"
            "overdue_lag_seconds_bucket{shard=\"a\\\"b\\\\c\\nd\",le=\"0.01\"} 1\n"
            "overdue_lag_seconds_bucket{shard=\"a\\\"b\\\\c\\nd\",le=\"0.1\"} 2\n"
            "overdue_lag_seconds_bucket{shard=\"a\\\"b\\\\c\\nd\",le=\"1\"} 2\n"
            "overdue_lag_seconds_bucket{shard=\"a\\\"b\\\\c\\nd\",le=\"+Inf\"} 3\n"
            "overdue_lag_seconds_sum{shard=\"a\\\"b\\\\c\\nd\"} 3.105\n"
            "overdue_lag_seconds_count{shard=\"a\\\"b\\\\c\\nd\"} 3\n"
            "# HELP overdue_watches Watches by state.\n"
            "# TYPE overdue_watches gauge\n"
            "overdue_watches{state=\"up\"} 12\n"
            "overdue_watches{state=\"down\"} 0.5\n"
            "# HELP overdue_requests_total Requests.\n"
            "# TYPE overdue_requests_total counter\n"
            "overdue_requests_total{a=\"1\",b=\"2\"} 0\n");
}

TEST(MetricsRegistryTest, UnlabelledHistogramHasOnlyLe) {
  MetricsRegistry r;
  Histogram& h = r.AddHistogram("x_seconds", "X.", {1});
  h.Observe(2);
  EXPECT_EQ(r.Render(),
            "# HELP x_seconds X.\n"
            "# TYPE x_seconds histogram\n"
            "x_seconds_bucket{le=\"1\"} 0\n"
            "x_seconds_bucket{le=\"+Inf\"} 1\n"
            "x_seconds_sum 2\n"
            "x_seconds_count 1\n");
}

TEST(MetricsRegistryTest, EmptyRegistryRendersNothing) {
  MetricsRegistry r;
  EXPECT_EQ(r.Render(), "");
}

TEST(MetricsRegistryTest, SameNameAndLabelsReturnsTheSameMetric) {
  MetricsRegistry r;
  Counter& a = r.AddCounter("c_total", "C.", {{"k", "v"}});
  Counter& b = r.AddCounter("c_total", "C.", {{"k", "v"}});
  Counter& other = r.AddCounter("c_total", "C.", {{"k", "w"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &other);
  Gauge& g1 = r.AddGauge("g", "G.");
  EXPECT_EQ(&g1, &r.AddGauge("g", "G."));
  Histogram& h1 = r.AddHistogram("h", "H.", {1, 2});
  EXPECT_EQ(&h1, &r.AddHistogram("h", "H.", {5}));
}

TEST(MetricsRegistryTest, ReferencesStayValidAsTheRegistryGrows) {
  MetricsRegistry r;
  Counter& first = r.AddCounter("first_total", "F.");
  first.Inc(5);
  for (int i = 0; i < 200; ++i) {
    r.AddCounter("many_total", "M.", {{"i", std::to_string(i)}});
    // Appended rather than "g" + to_string(i): g++ 12 -O3 raises a false -Wrestrict on that.
    std::string gauge_name = "g";
    gauge_name += std::to_string(i);
    r.AddGauge(gauge_name, "G.");
  }
  first.Inc();
  EXPECT_EQ(first.Value(), 6u);
  EXPECT_NE(r.Render().find("first_total 6\n"), std::string::npos);
}

TEST(MetricsRegistryTest, GaugeFunctionIsReadAtRenderTime) {
  MetricsRegistry r;
  double depth = 1;
  r.AddGaugeFunction("queue_depth", "Q.", {}, [&depth] { return depth; });
  EXPECT_NE(r.Render().find("queue_depth 1\n"), std::string::npos);
  depth = 42.25;
  EXPECT_NE(r.Render().find("queue_depth 42.25\n"), std::string::npos);
}

TEST(CounterTest, ConcurrentIncrementsAreAllCounted) {
  MetricsRegistry r;
  Counter& c = r.AddCounter("hot_total", "Hot path.");
  Gauge& g = r.AddGauge("level", "Up and down.");
  Histogram& h = r.AddHistogram("obs", "O.", {0.5});
  constexpr int kThreads = 8;
  constexpr int kPerThread = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        c.Inc();
        g.Add(1);
        g.Add(-1);
        h.Observe(i % 2 == 0 ? 0.25 : 1.0);
      }
    });
  }
  // Renders while writers run must not crash or tear (checked under sanitizers).
  for (int i = 0; i < 20; ++i) EXPECT_FALSE(r.Render().empty());
  for (auto& t : threads) t.join();
  EXPECT_EQ(c.Value(), static_cast<uint64_t>(kThreads) * kPerThread);
  EXPECT_EQ(g.Value(), 0);
  const Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.count, static_cast<uint64_t>(kThreads) * kPerThread);
  EXPECT_EQ(s.cumulative[0], static_cast<uint64_t>(kThreads) * kPerThread / 2);
  EXPECT_DOUBLE_EQ(s.sum, kThreads * (kPerThread / 2) * (0.25 + 1.0));
}

TEST(HistogramTest, BoundIsInclusiveUpperEdge) {
  Histogram h({0.1, 0.5, 1});
  h.Observe(0.1);           // exactly on an edge: counts in le="0.1"
  h.Observe(0.1000000001);  // just above: next bucket
  h.Observe(0.5);
  h.Observe(1);
  h.Observe(1.0000001);  // above the last finite bound: +Inf only
  h.Observe(-3);         // below the first bound: first bucket
  const Histogram::Snapshot s = h.Read();
  ASSERT_EQ(s.cumulative.size(), 4u);
  EXPECT_EQ(s.cumulative[0], 2u);  // -3, 0.1
  EXPECT_EQ(s.cumulative[1], 4u);  // + 0.1000000001, 0.5
  EXPECT_EQ(s.cumulative[2], 5u);  // + 1
  EXPECT_EQ(s.cumulative[3], 6u);  // + 1.0000001
  EXPECT_EQ(s.count, 6u);
  EXPECT_NEAR(s.sum, 0.1 + 0.1000000001 + 0.5 + 1 + 1.0000001 - 3, 1e-12);
}

TEST(HistogramTest, BoundsAreSortedDeduplicatedAndInfinityIsImplicit) {
  Histogram h({5, 1, std::numeric_limits<double>::infinity(), 1, 2,
               std::numeric_limits<double>::quiet_NaN()});
  const Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.bounds, (std::vector<double>{1, 2, 5}));
  EXPECT_EQ(s.cumulative.size(), 4u);
}

TEST(HistogramTest, NoBoundsHasOnlyInfBucket) {
  MetricsRegistry r;
  r.AddHistogram("only_inf", "I.", {}).Observe(7);
  EXPECT_EQ(r.Render(),
            "# HELP only_inf I.\n"
            "# TYPE only_inf histogram\n"
            "only_inf_bucket{le=\"+Inf\"} 1\n"
            "only_inf_sum 7\n"
            "only_inf_count 1\n");
}

TEST(HistogramTest, NanCountsOnlyInInf) {
  Histogram h({1});
  h.Observe(std::numeric_limits<double>::quiet_NaN());
  const Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.cumulative[0], 0u);
  EXPECT_EQ(s.cumulative[1], 1u);
  EXPECT_TRUE(std::isnan(s.sum));
}

TEST(MetricsFormatTest, FormatsValuesAndEscapes) {
  EXPECT_EQ(FormatMetricValue(0.005), "0.005");
  EXPECT_EQ(FormatMetricValue(60), "60");
  EXPECT_EQ(FormatMetricValue(-2.5), "-2.5");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatMetricValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatMetricValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(EscapeHelp("say \"hi\"\\\n"), "say \"hi\"\\\\\\n");
}

TEST(MetricsRegistryDeathTest, InvalidNamesAndTypeClashesAreProgrammingErrors) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddCounter("bad-name", "B.");
      },
      "check failed");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddCounter("ok_total", "B.", {{"__reserved", "x"}});
      },
      "check failed");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddCounter("same", "B.");
        r.AddGauge("same", "B.");
      },
      "check failed");
  EXPECT_DEATH(
      {
        MetricsRegistry r;
        r.AddHistogram("h", "H.", {1}, {{"le", "1"}});
      },
      "check failed");
}

}  // namespace
}  // namespace overdue::base
