// Core benchmarks, single thread, in-memory adapter.
//
//   success path   push → reserve (batches of 64) → Worker::process (the handler returns) → settle
//   failure path   reserve → Worker::process (the handler throws) → failure pipeline → settle with the retry
//   throw/catch    the handler's own throw and catch, alone: what any C++ failure costs
//   breakdown      the failure path and the bare throw/catch timed side by side, and their
//                  difference: the cost from the caught exception to the settled retry
//
// Targets: success path ≥ 1,000,000 msgs/s; caught exception → settled retry ≤ 1 µs.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "failpipe/error.hpp"
#include "failpipe/exponential_delay_middleware.hpp"
#include "failpipe/memory/in_memory_adapter.hpp"
#include "failpipe/send_again_middleware.hpp"
#include "failpipe/worker.hpp"

namespace {

constexpr std::size_t kBatch = 64;
const std::vector<std::string> kChannels{"bench"};

// The failing handler of every failure benchmark, and of the throw/catch baseline: the same
// exception type with the same message, thrown through the same std::function.
[[gnu::noinline]] void failing_handler(const failpipe::Message&, failpipe::HandlerContext&) {
    throw failpipe::TransientError("payment gateway timed out");
}

[[gnu::noinline]] void succeeding_handler(const failpipe::Message& message, failpipe::HandlerContext&) {
    benchmark::DoNotOptimize(&message);
}

failpipe::WorkerOptions worker_options() {
    failpipe::WorkerOptions options;
    options.channels = kChannels;
    options.batch_size = kBatch;
    options.wait = std::chrono::milliseconds(0);
    return options;
}

// @p history_limit: the attempts a message's history keeps (10 by default; each failure of these
// benchmarks' messages, which fail forever, then carries a full history of 10 entries).
failpipe::FailureMiddlewareDispatcher send_again_dispatcher(std::size_t history_limit = failpipe::kDefaultHistoryLimit) {
    failpipe::FailureMiddlewareDispatcher::Options options;
    options.history_limit = history_limit;
    // Big enough never to run out during a benchmark: every failure is retried.
    options.default_pipeline = {std::make_shared<failpipe::SendAgainMiddleware>("again", 1LL << 62)};
    return failpipe::FailureMiddlewareDispatcher(std::move(options));
}

failpipe::FailureMiddlewareDispatcher exponential_dispatcher(std::shared_ptr<const failpipe::Clock> clock) {
    failpipe::FailureMiddlewareDispatcher::Options options;
    options.default_pipeline = {
        std::make_shared<failpipe::ExponentialDelayMiddleware>("backoff", 1LL << 62, 1.0, 60.0, 2.0)};
    options.clock = std::move(clock);
    return failpipe::FailureMiddlewareDispatcher(std::move(options));
}

void per_message_counters(benchmark::State& state) {
    const auto messages = static_cast<std::int64_t>(state.iterations() * kBatch);
    state.SetItemsProcessed(messages);
    // Inverted rate: seconds per message, printed with an SI prefix (n = ns, u = µs).
    state.counters["time/msg"] =
        benchmark::Counter(static_cast<double>(messages), benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

void check_outcome(benchmark::State& state, failpipe::Outcome got, failpipe::Outcome expected) {
    if (got != expected) state.SkipWithError("unexpected outcome: the benchmark measures the wrong path");
}

// push → reserve → settle, no worker: the adapter's own hot path.
void BM_AdapterPushReserveSettle(benchmark::State& state) {
    failpipe::InMemoryAdapter adapter;
    std::int64_t n = 0;
    for (auto _ : state) {
        for (std::size_t i = 0; i < kBatch; ++i) adapter.push("bench", failpipe::Message::create("work", n++));
        auto deliveries = adapter.reserve(kChannels, kBatch, std::chrono::milliseconds(0));
        for (auto& delivery : deliveries) adapter.settle(delivery, failpipe::Settlement{});
    }
    per_message_counters(state);
}
BENCHMARK(BM_AdapterPushReserveSettle);

// The same with delays, behind a backlog of 100,000 messages delayed for a day: what a channel
// full of retries costs each message that passes through.
void BM_AdapterDelayedBehindBacklog(benchmark::State& state) {
    auto clock = std::make_shared<failpipe::ManualClock>();
    failpipe::InMemoryAdapter::Options options;
    options.clock = clock;
    failpipe::InMemoryAdapter adapter(options);
    for (int i = 0; i < 100000; ++i) adapter.push("bench", failpipe::Message::create("work", i), failpipe::Seconds{86400.0});
    std::int64_t n = 0;
    for (auto _ : state) {
        for (std::size_t i = 0; i < kBatch; ++i) {
            adapter.push("bench", failpipe::Message::create("work", n++), failpipe::Seconds{1.0});
        }
        clock->advance(failpipe::Seconds{1.0});
        auto deliveries = adapter.reserve(kChannels, kBatch, std::chrono::milliseconds(0));
        for (auto& delivery : deliveries) adapter.settle(delivery, failpipe::Settlement{});
        if (deliveries.size() != kBatch) state.SkipWithError("the delayed messages did not come due");
    }
    per_message_counters(state);
}
BENCHMARK(BM_AdapterDelayedBehindBacklog);

// 1. Success path: push → reserve → Worker::process (handler returns) → settle.
void BM_SuccessPath(benchmark::State& state) {
    auto adapter = std::make_shared<failpipe::InMemoryAdapter>();
    failpipe::Worker worker(adapter, failpipe::FailureMiddlewareDispatcher(), failpipe::Classifier(), worker_options());
    worker.on("work", succeeding_handler);
    std::int64_t n = 0;
    for (auto _ : state) {
        for (std::size_t i = 0; i < kBatch; ++i) adapter->push("bench", failpipe::Message::create("work", n++));
        auto deliveries = adapter->reserve(kChannels, kBatch, std::chrono::milliseconds(0));
        for (auto& delivery : deliveries) {
            check_outcome(state, worker.process(std::move(delivery)), failpipe::Outcome::succeeded);
        }
    }
    per_message_counters(state);
}
BENCHMARK(BM_SuccessPath);

// 2a. Failure path, SendAgainMiddleware: reserve → process (throws) → pipeline → settle with the retry.
// The retries are the next iteration's messages, so nothing is pushed from outside.
void BM_FailurePath_SendAgain(benchmark::State& state) {
    auto adapter = std::make_shared<failpipe::InMemoryAdapter>();
    const auto history_limit = static_cast<std::size_t>(state.range(0));
    failpipe::Worker worker(adapter, send_again_dispatcher(history_limit), failpipe::Classifier(), worker_options());
    worker.on("work", failing_handler);
    for (std::size_t i = 0; i < kBatch; ++i) adapter->push("bench", failpipe::Message::create("work", i));
    for (auto _ : state) {
        auto deliveries = adapter->reserve(kChannels, kBatch, std::chrono::milliseconds(0));
        for (auto& delivery : deliveries) {
            check_outcome(state, worker.process(std::move(delivery)), failpipe::Outcome::retried);
        }
    }
    per_message_counters(state);
}
// The argument is the history limit: 10 (the default, full on every failure here) and 0 (none).
BENCHMARK(BM_FailurePath_SendAgain)->ArgName("history")->Arg(10)->Arg(0);

// 2a'. Failure path, ExponentialDelayMiddleware: the retries wait in the delayed set until a
// manual clock makes them due (the clock moves by the delay cap between batches).
void BM_FailurePath_ExponentialDelay(benchmark::State& state) {
    auto clock = std::make_shared<failpipe::ManualClock>();
    failpipe::InMemoryAdapter::Options adapter_options;
    adapter_options.clock = clock;
    adapter_options.visibility_timeout = failpipe::Seconds{3600.0};
    auto adapter = std::make_shared<failpipe::InMemoryAdapter>(adapter_options);
    failpipe::Worker worker(adapter, exponential_dispatcher(clock), failpipe::Classifier(), worker_options());
    worker.on("work", failing_handler);
    for (std::size_t i = 0; i < kBatch; ++i) adapter->push("bench", failpipe::Message::create("work", i));
    for (auto _ : state) {
        clock->advance(failpipe::Seconds{60.0});
        auto deliveries = adapter->reserve(kChannels, kBatch, std::chrono::milliseconds(0));
        for (auto& delivery : deliveries) {
            check_outcome(state, worker.process(std::move(delivery)), failpipe::Outcome::retried);
        }
    }
    per_message_counters(state);
}
BENCHMARK(BM_FailurePath_ExponentialDelay);

// 2b. The handler's own throw/catch alone, through the same std::function.
void BM_HandlerThrowCatch(benchmark::State& state) {
    const failpipe::Handler handler = failing_handler;
    const failpipe::Message message = failpipe::Message::create("work", 1);
    const std::string channel = "bench";
    for (auto _ : state) {
        for (std::size_t i = 0; i < kBatch; ++i) {
            failpipe::HandlerContext context(channel, 1);
            try {
                handler(message, context);
            } catch (const std::exception& e) {
                benchmark::DoNotOptimize(e.what());
            }
        }
    }
    per_message_counters(state);
}
BENCHMARK(BM_HandlerThrowCatch);

// 2c. Both, timed batch by batch in the same run so that they share the machine's state; the
// difference is what failpipe adds between the handler's throw and the settled retry: routing to
// the handler, classification, the pipeline's decision and the settle. The reserve happens before
// the handler runs and is reported on its own.
template <bool kExponential>
void BM_FailureBreakdown(benchmark::State& state) {
    using Clock = std::chrono::steady_clock;
    auto clock = std::make_shared<failpipe::ManualClock>();
    failpipe::InMemoryAdapter::Options adapter_options;
    adapter_options.clock = clock;
    adapter_options.visibility_timeout = failpipe::Seconds{3600.0};
    auto adapter = std::make_shared<failpipe::InMemoryAdapter>(adapter_options);
    failpipe::Worker worker(adapter, kExponential ? exponential_dispatcher(clock) : send_again_dispatcher(),
                            failpipe::Classifier(), worker_options());
    worker.on("work", failing_handler);
    for (std::size_t i = 0; i < kBatch; ++i) adapter->push("bench", failpipe::Message::create("work", i));

    const failpipe::Handler handler = failing_handler;
    const failpipe::Message message = failpipe::Message::create("work", 1);
    const std::string channel = "bench";
    Clock::duration reserve{};
    Clock::duration whole{};
    Clock::duration throw_catch{};
    std::int64_t messages = 0;
    for (auto _ : state) {
        if (kExponential) clock->advance(failpipe::Seconds{60.0});
        const auto tr = Clock::now();
        auto deliveries = adapter->reserve(kChannels, kBatch, std::chrono::milliseconds(0));
        const auto t0 = Clock::now();
        for (auto& delivery : deliveries) {
            check_outcome(state, worker.process(std::move(delivery)), failpipe::Outcome::retried);
        }
        const auto t1 = Clock::now();
        for (std::size_t i = 0; i < deliveries.size(); ++i) {
            failpipe::HandlerContext context(channel, 1);
            try {
                handler(message, context);
            } catch (const std::exception& e) {
                benchmark::DoNotOptimize(e.what());
            }
        }
        const auto t2 = Clock::now();
        reserve += t0 - tr;
        whole += t1 - t0;
        throw_catch += t2 - t1;
        messages += static_cast<std::int64_t>(deliveries.size());
    }
    const double n = messages > 0 ? static_cast<double>(messages) : 1.0;
    const double whole_ns = static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(whole).count()) / n;
    const double throw_ns =
        static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(throw_catch).count()) / n;
    state.counters["reserve_ns"] = benchmark::Counter(
        static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(reserve).count()) / n);
    state.counters["a_failure_path_ns"] = benchmark::Counter(whole_ns);
    state.counters["b_throw_catch_ns"] = benchmark::Counter(throw_ns);
    state.counters["c_caught_to_settled_ns"] = benchmark::Counter(whole_ns - throw_ns);
    state.SetItemsProcessed(messages);
}
BENCHMARK(BM_FailureBreakdown<false>)->Name("BM_FailureBreakdown_SendAgain");
BENCHMARK(BM_FailureBreakdown<true>)->Name("BM_FailureBreakdown_ExponentialDelay");

}  // namespace

BENCHMARK_MAIN();
