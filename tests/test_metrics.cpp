// Metrics from DeliveryEvents, the Prometheus text they are written as (parsed back by a strict
// reader), depth gauges from an adapter, and the cardinality cap.
#include <doctest/doctest.h>

#include <failpipe/channel_stats.hpp>
#include <failpipe/error.hpp>
#include <failpipe/memory/in_memory_adapter.hpp>
#include <failpipe/metrics.hpp>
#include <failpipe/prometheus.hpp>

#include <cmath>
#include <thread>

#include "prometheus_parser.hpp"

using namespace failpipe;
using failpipe::test::PromExposition;

namespace {

using Labels = std::map<std::string, std::string>;

std::string joined(const std::vector<std::string>& problems) {
    std::string out;
    for (const auto& p : problems) out += p + "\n";
    return out;
}

PromExposition parsed(const std::string& text) {
    auto e = PromExposition::parse(text);
    INFO(text);
    CHECK_MESSAGE(e.problems.empty(), joined(e.problems));
    return e;
}

DeliveryEvent event(std::string_view channel, std::string_view type, Outcome outcome) {
    DeliveryEvent e;
    e.channel = channel;
    e.message_type = type;
    e.message_id = "m";
    e.outcome = outcome;
    return e;
}

DeliveryEvent succeeded(std::string_view channel, std::string_view type, double seconds) {
    DeliveryEvent e = event(channel, type, Outcome::succeeded);
    e.handler_time = std::chrono::nanoseconds(static_cast<long long>(seconds * 1e9));
    return e;
}

DeliveryEvent retried(std::string_view channel, std::string_view type, std::string_view middleware, ErrorClass c) {
    DeliveryEvent e = event(channel, type, Outcome::retried);
    e.error_class = c;
    e.action = FailureAction::delay;
    e.decided_by = middleware;
    e.target = channel;
    e.delay = Seconds{5.0};
    e.handler_time = std::chrono::milliseconds(3);
    return e;
}

DeliveryEvent dead_lettered(std::string_view channel, std::string_view type, std::string_view reason) {
    DeliveryEvent e = event(channel, type, Outcome::dead_lettered);
    e.decided_by = "final";
    e.reason = reason;
    e.handler_time = std::chrono::milliseconds(1);
    return e;
}

}  // namespace

// --- the writer -----------------------------------------------------------------------------------

TEST_CASE("prometheus: label values are escaped and invalid UTF-8 is replaced") {
    PrometheusWriter w;
    w.gauge("g", "a gauge", {{"channel", "a\\b\"c\nd"}, {"raw", std::string_view("x\xff" "y", 3)}}, 1);
    const std::string text = w.str();
    CHECK(text == "# HELP g a gauge\n# TYPE g gauge\ng{channel=\"a\\\\b\\\"c\\nd\",raw=\"x\xEF\xBF\xBDy\"} 1\n");
    const auto e = parsed(text);
    CHECK(e.value("g", {{"channel", "a\\b\"c\nd"}, {"raw", "x\xEF\xBF\xBDy"}}) == 1.0);
}

TEST_CASE("prometheus: a family is written as one group with HELP and TYPE once, whatever the order of samples") {
    PrometheusWriter w;
    w.counter("a_total", "A.", {{"x", "1"}}, 1);
    w.gauge("b", "B.", {}, 2);
    w.counter("a_total", "A.", {{"x", "2"}}, 3);
    CHECK(w.str() == "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 1\na_total{x=\"2\"} 3\n"
                     "# HELP b B.\n# TYPE b gauge\nb 2\n");
}

TEST_CASE("prometheus: values are written exactly, with +Inf, -Inf and NaN") {
    CHECK(format_prometheus_value(3) == "3");
    CHECK(format_prometheus_value(0.1) == "0.1");
    CHECK(format_prometheus_value(1e21) == "1e+21");
    CHECK(format_prometheus_value(HUGE_VAL) == "+Inf");
    CHECK(format_prometheus_value(-HUGE_VAL) == "-Inf");
    CHECK(format_prometheus_value(NAN) == "NaN");
}

TEST_CASE("prometheus: bad metric and label names, and a family of two types, are refused") {
    PrometheusWriter w;
    CHECK_THROWS_AS(w.gauge("9lives", "", {}, 1), InvalidArgumentError);
    CHECK_THROWS_AS(w.gauge("ok", "", {{"bad-label", "v"}}, 1), InvalidArgumentError);
    CHECK_THROWS_AS(w.gauge("ok", "", {{"le", "v"}}, 1), InvalidArgumentError);
    CHECK_THROWS_AS(w.gauge("ok", "", {{"__name__", "v"}}, 1), InvalidArgumentError);
    w.gauge("ok", "", {}, 1);
    CHECK_THROWS_AS(w.counter("ok", "", {}, 1), InvalidArgumentError);
}

TEST_CASE("prometheus: a histogram has cumulative buckets ending in +Inf, _sum and _count") {
    HistogramSnapshot h{{0.1, 1.0}, {2, 3, 1}, 4.5};
    PrometheusWriter w;
    w.histogram("h_seconds", "H.", {{"channel", "c"}}, h);
    CHECK(w.str() == "# HELP h_seconds H.\n# TYPE h_seconds histogram\n"
                     "h_seconds_bucket{channel=\"c\",le=\"0.1\"} 2\nh_seconds_bucket{channel=\"c\",le=\"1\"} 5\n"
                     "h_seconds_bucket{channel=\"c\",le=\"+Inf\"} 6\nh_seconds_sum{channel=\"c\"} 4.5\n"
                     "h_seconds_count{channel=\"c\"} 6\n");
    parsed(w.str());
}

TEST_CASE("prometheus: the test parser finds what a scraper would refuse") {
    auto problems = [](std::string text) { return PromExposition::parse(text).problems.size(); };
    CHECK(problems("# TYPE a gauge\na 1\n") == 0);
    CHECK(problems("# TYPE a gauge\na{x=\"1\"} one\n") == 1);                  // value
    CHECK(problems("# TYPE a gauge\na{x=\"\\t\"} 1\n") == 1);                  // escape
    CHECK(problems("a 1\n") == 1);                                             // no TYPE
    CHECK(problems("# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na 2\n") >= 1);   // split group
    CHECK(problems("# TYPE a_total counter\na_total 1\na_total 1\n") == 1);    // twice
    CHECK(problems("# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 2\n") == 1);
    CHECK(problems("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n") == 1);
    CHECK(problems("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n") == 1);  // no +Inf
    CHECK(problems("# TYPE a gauge\na 1") == 1);                                // no final newline
}

TEST_CASE("prometheus: quantiles are estimated inside their bucket") {
    HistogramSnapshot h{{0.1, 1.0, 10.0}, {50, 40, 10, 0}, 0.0};
    CHECK(h.quantile(0.5) == doctest::Approx(0.1));
    CHECK(h.quantile(0.9) == doctest::Approx(1.0));
    CHECK(h.quantile(0.95) == doctest::Approx(5.5));
    CHECK(h.quantile(0.25) == doctest::Approx(0.05));
    HistogramSnapshot overflow{{1.0}, {0, 5}, 0.0};
    CHECK(overflow.quantile(0.99) == 1.0);  // beyond the largest bound: that bound
    CHECK(HistogramSnapshot{{1.0}, {0, 0}, 0.0}.quantile(0.5) == 0.0);
}

// --- metrics --------------------------------------------------------------------------------------

TEST_CASE("metrics: a known run of events gives exact counts in the snapshot and in the exposition") {
    Metrics metrics;
    for (int i = 0; i < 7; ++i) metrics.on_delivery(succeeded("orders", "order.created", 0.002));
    metrics.on_delivery(succeeded("orders", "order.created", 0.3));
    metrics.on_delivery(retried("orders", "order.created", "backoff", ErrorClass::transient));
    metrics.on_delivery(retried("orders", "order.created", "backoff", ErrorClass::transient));
    metrics.on_delivery(retried("orders", "order.created", "send-again", ErrorClass::unknown));
    auto dead = dead_lettered("orders", "order.created", "failure");
    dead.error_class = ErrorClass::permanent;
    metrics.on_delivery(dead);
    auto poison = dead_lettered("orders", "", "poison");
    poison.poison = true;
    poison.decided_by = "worker";
    poison.error_class = ErrorClass::permanent;  // the worker's DecodeError: counted as poison, not as a failure
    metrics.on_delivery(poison);
    auto released = event("payments", "charge", Outcome::released);
    released.decided_by = "gateway";
    released.reason = "breaker open";
    metrics.on_delivery(released);
    metrics.on_delivery(released);
    auto expired = event("payments", "charge", Outcome::dropped);
    expired.expired = true;
    metrics.on_delivery(expired);
    auto late = succeeded("orders", "order.created", 0.001);
    late.lateness = Seconds{2.0};
    late.first_attempt = false;
    metrics.on_delivery(late);
    auto budget = retried("payments", "charge", "backoff", ErrorClass::transient);
    budget.budget_exhausted = true;
    metrics.on_delivery(budget);
    metrics.on_delivery(event("payments", "charge", Outcome::settle_failed));
    auto refused = dead_lettered("payments", "charge", "settle-error");  // the handler succeeded; the adapter refused
    refused.error_class = ErrorClass::unknown;
    metrics.on_delivery(refused);

    const auto snap = metrics.snapshot();
    REQUIRE(snap.series.size() == 3);
    const auto orders = snap.channel("orders");
    CHECK(orders.received == 14);
    CHECK(orders.outcome(Outcome::succeeded) == 9);
    CHECK(orders.outcome(Outcome::retried) == 3);
    CHECK(orders.outcome(Outcome::dead_lettered) == 2);
    CHECK(orders.failures(ErrorClass::transient) == 2);
    CHECK(orders.failures(ErrorClass::permanent) == 1);
    CHECK(orders.failures(ErrorClass::unknown) == 1);
    CHECK(orders.retried_by == std::map<std::string, std::uint64_t>{{"backoff", 2}, {"send-again", 1}});
    CHECK(orders.dead_lettered_by == std::map<std::string, std::uint64_t>{{"failure", 1}, {"poison", 1}});
    CHECK(orders.poison == 1);
    CHECK(orders.handler_seconds.count() == 13);  // the poison message never ran
    CHECK(orders.retry_lateness_seconds.count() == 1);
    const auto payments = snap.channel("payments");
    CHECK(payments.released_by == std::map<std::string, std::uint64_t>{{"gateway", 2}});
    CHECK(payments.expired == 1);
    CHECK(payments.budget_exhausted == 1);
    CHECK(payments.outcome(Outcome::settle_failed) == 1);
    CHECK(payments.handler_seconds.count() == 2);  // the retry and the refused settle ran; releases here did not
    CHECK(payments.failures() == 1);  // the budget-exhausted retry; not the settle error
    CHECK(payments.dead_lettered_by == std::map<std::string, std::uint64_t>{{"settle-error", 1}});
    CHECK(snap.total().received == 20);

    const auto e = parsed(metrics.to_prometheus());
    const Labels oc{{"channel", "orders"}, {"type", "order.created"}};
    auto with = [](Labels l, std::string k, std::string v) {
        l[std::move(k)] = std::move(v);
        return l;
    };
    CHECK(e.value("failpipe_received_total", oc) == 13.0);
    CHECK(e.value("failpipe_messages_total", with(oc, "outcome", "succeeded")) == 9.0);
    CHECK(e.value("failpipe_messages_total", with(oc, "outcome", "dead-lettered")) == 1.0);
    CHECK(e.value("failpipe_messages_total", with(oc, "outcome", "released")) == 0.0);
    CHECK(e.value("failpipe_failures_total", with(oc, "class", "transient")) == 2.0);
    CHECK(e.value("failpipe_retries_total", with(oc, "middleware", "backoff")) == 2.0);
    CHECK(e.value("failpipe_dead_letters_total", with(oc, "reason", "failure")) == 1.0);
    CHECK(e.value("failpipe_dead_letters_total", {{"channel", "orders"}, {"type", "(none)"}, {"reason", "poison"}}) == 1.0);
    CHECK(e.value("failpipe_poison_total", {{"channel", "orders"}, {"type", "(none)"}}) == 1.0);
    const Labels pc{{"channel", "payments"}, {"type", "charge"}};
    CHECK(e.value("failpipe_released_total", with(pc, "by", "gateway")) == 2.0);
    CHECK(e.value("failpipe_expired_total", pc) == 1.0);
    CHECK(e.value("failpipe_retry_budget_exhausted_total", pc) == 1.0);
    CHECK(e.value("failpipe_handler_duration_seconds_count", oc) == 13.0);
    CHECK(e.value("failpipe_handler_duration_seconds_bucket", with(oc, "le", "0.0025")) == 9.0);
    CHECK(e.value("failpipe_handler_duration_seconds_bucket", with(oc, "le", "0.25")) == 12.0);
    CHECK(e.value("failpipe_handler_duration_seconds_bucket", with(oc, "le", "0.5")) == 13.0);
    CHECK(*e.value("failpipe_handler_duration_seconds_sum", oc) == doctest::Approx(7 * 0.002 + 0.3 + 0.001 + 3 * 0.003 + 0.001));
    CHECK(e.value("failpipe_retry_lateness_seconds_bucket", with(oc, "le", "2.5")) == 1.0);
    CHECK(e.value("failpipe_retry_lateness_seconds_bucket", with(oc, "le", "1")) == 0.0);
    CHECK(e.value("failpipe_metrics_folded_total") == 0.0);
}

TEST_CASE("metrics: many threads count every event exactly") {
    Metrics metrics;
    constexpr int kThreads = 4, kEach = 20000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            const std::string type = "t" + std::to_string(t % 2);
            for (int i = 0; i < kEach; ++i) {
                if (i % 10 == 0) metrics.on_delivery(retried("c", type, i % 20 == 0 ? "a" : "b", ErrorClass::transient));
                else metrics.on_delivery(succeeded("c", type, 0.001));
            }
        });
    }
    for (auto& t : threads) t.join();
    const auto total = metrics.snapshot().total();
    CHECK(total.received == kThreads * kEach);
    CHECK(total.outcome(Outcome::succeeded) == kThreads * kEach * 9 / 10);
    CHECK(total.retried_by.at("a") + total.retried_by.at("b") == kThreads * kEach / 10);
    CHECK(total.handler_seconds.count() == kThreads * kEach);
}

TEST_CASE("metrics: past the cap, new (channel, type) pairs are counted under type other") {
    Metrics::Options options;
    options.max_series = 3;
    options.max_label_values = 2;
    Metrics metrics(options);
    std::vector<std::string> types;
    for (int i = 0; i < 10; ++i) types.push_back("type-" + std::to_string(i));
    for (const auto& t : types) metrics.on_delivery(succeeded("orders", t, 0.001));
    for (const auto& t : types) metrics.on_delivery(succeeded("ch-" + t, t, 0.001));
    for (const auto& id : {"m1", "m2", "m3", "m4"}) metrics.on_delivery(retried("orders", "type-0", id, ErrorClass::unknown));

    const auto snap = metrics.snapshot();
    CHECK(snap.series.size() <= 2 * options.max_series + 1);
    CHECK(snap.total().received == 24);  // nothing is lost, only folded
    CHECK(snap.folded == 17);
    const auto e = parsed(metrics.to_prometheus());
    CHECK(e.value("failpipe_received_total", {{"channel", "orders"}, {"type", "other"}}) == 7.0);
    CHECK(e.value("failpipe_received_total", {{"channel", "orders"}, {"type", "type-9"}}) == std::nullopt);
    CHECK(e.value("failpipe_metrics_folded_total") == 17.0);
    CHECK(snap.channel("orders").retried_by ==
          std::map<std::string, std::uint64_t>{{"m1", 1}, {"m2", 1}, {"other", 2}});
}

TEST_CASE("metrics: events of a folded pair keep being counted, and counted as folded, every time") {
    Metrics::Options options;
    options.max_series = 1;
    Metrics metrics(options);
    metrics.on_delivery(succeeded("orders", "first", 0.001));
    for (int i = 0; i < 5; ++i) metrics.on_delivery(succeeded("orders", "second", 0.001));
    const auto snap = metrics.snapshot();
    CHECK(snap.folded == 5);
    const auto e = parsed(metrics.to_prometheus());
    CHECK(e.value("failpipe_received_total", {{"channel", "orders"}, {"type", "other"}}) == 5.0);
    CHECK(e.value("failpipe_metrics_folded_total") == 5.0);
}

TEST_CASE("metrics: two Metrics on one thread, one after the other or side by side, never share a series") {
    for (int round = 0; round < 3; ++round) {
        Metrics a;  // may reuse the address of the previous round's
        Metrics b;
        a.on_delivery(succeeded("orders", "t", 0.001));
        b.on_delivery(succeeded("orders", "t", 0.001));
        b.on_delivery(succeeded("orders", "t", 0.001));
        CHECK(a.snapshot().total().received == 1);
        CHECK(b.snapshot().total().received == 2);
    }
}

TEST_CASE("metrics: bad options are refused") {
    Metrics::Options zero;
    zero.max_series = 0;
    CHECK_THROWS_AS(Metrics{zero}, InvalidArgumentError);
    Metrics::Options descending;
    descending.handler_buckets = {1.0, 0.5};
    CHECK_THROWS_AS(Metrics{descending}, InvalidArgumentError);
    Metrics::Options infinite;
    infinite.lateness_buckets = {1.0, HUGE_VAL};
    CHECK_THROWS_AS(Metrics{infinite}, InvalidArgumentError);
}

TEST_CASE("metrics: collectors add their gauges at each scrape, and one that throws adds nothing") {
    Metrics metrics;
    int level = 4;
    metrics.add_collector([&](PrometheusWriter& w) {
        w.gauge("failpipe_channel_concurrency", "Concurrency now.", {{"channel", "orders"}}, level);
    });
    metrics.add_collector([](PrometheusWriter& w) {
        w.gauge("failpipe_half_written", "Never shown.", {}, 1);
        throw std::runtime_error("broker down");
    });
    auto e = parsed(metrics.to_prometheus());
    CHECK(e.value("failpipe_channel_concurrency", {{"channel", "orders"}}) == 4.0);
    CHECK(e.families.count("failpipe_half_written") == 0);
    CHECK(e.value("failpipe_metrics_collector_errors_total") == 1.0);
    level = 2;
    e = parsed(metrics.to_prometheus());
    CHECK(e.value("failpipe_channel_concurrency", {{"channel", "orders"}}) == 2.0);
    CHECK(e.value("failpipe_metrics_collector_errors_total") == 2.0);
    CHECK_THROWS_AS(metrics.add_collector({}), InvalidArgumentError);
}

TEST_CASE("metrics: depth gauges count what the adapter holds, dead letters and parked messages for their channel") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    adapter->push("orders", Message::create("order", 1));
    adapter->push("orders", Message::create("order", 2), Seconds{60});
    adapter->push("orders:dlq", Message::create("order", 3));
    adapter->push("orders:parked", Message::create("order", 4));
    adapter->push("invoices", Message::create("invoice", 5));
    const auto reserved = adapter->reserve({"invoices"}, 1, std::chrono::milliseconds(0));
    REQUIRE(reserved.size() == 1);

    const auto stats = channel_stats(*adapter);
    REQUIRE(stats.size() == 2);
    CHECK(stats[0].channel == "invoices");
    CHECK(stats[1].channel == "orders");
    CHECK(stats[1].dead == 1);

    Metrics metrics;
    metrics.add_collector(depth_collector(adapter));
    const auto e = parsed(metrics.to_prometheus());
    auto depth = [&](const char* channel, const char* state) {
        return e.value("failpipe_channel_messages", {{"channel", channel}, {"state", state}});
    };
    CHECK(depth("orders", "ready") == 1.0);
    CHECK(depth("orders", "delayed") == 1.0);
    CHECK(depth("orders", "reserved") == 0.0);
    CHECK(depth("orders", "dead") == 1.0);
    CHECK(depth("orders", "parked") == 1.0);
    CHECK(depth("invoices", "reserved") == 1.0);
    CHECK(depth("orders:dlq", "ready") == std::nullopt);
    CHECK(e.value("failpipe_dead_letters_evicted_total", {{"channel", "orders"}}) == 0.0);
}
