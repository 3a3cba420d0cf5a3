// The demo worker: orders flow through a channel while some fail. Watch failpipe send them again,
// back off, and park the hopeless ones in the dead letters with the reason attached — and check
// at the end that every order is accounted for.
//
//   demo_worker [--orders N] [--workers N] [--config FILE] [--redis URL] [--plain] [--help]
#include <failpipe/failpipe.hpp>
#include <failpipe/memory/in_memory_adapter.hpp>
#if FAILPIPE_HAVE_REDIS
#include <failpipe/redis/redis_adapter.hpp>
#endif

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

struct Arguments {
    int orders = 40;
    int workers = 2;
    std::string config = std::string(FAILPIPE_SOURCE_DIR) + "/config/demo.json";
    std::string redis_url;
    bool plain = false;
};

const char* kUsage = R"(demo_worker — failpipe's demo: a worker whose orders sometimes fail

usage: demo_worker [--orders N] [--workers N] [--config FILE] [--redis URL] [--plain]

  --orders N     how many orders to push (default 40)
  --workers N    worker threads (default 2)
  --config FILE  the failure-pipeline config (default config/demo.json)
  --redis URL    use Redis at URL (redis://host:port[/db]) instead of the in-memory adapter
  --plain        no live status line (for logs and CI)

Order n fails like this: n % 7 == 3 times out once (transient: sent again),
n % 11 == 5 times out three times (transient: backoff), n % 13 == 8 is a
declined card (permanent: straight to the dead letters), n % 17 == 9 crashes
every time (unknown: retried, then dead-lettered). One poison message (bytes
that are not a message) is pushed too, on the in-memory adapter.
)";

[[noreturn]] void usage_error(const std::string& message) {
    std::cerr << "demo_worker: " << message << "\n(see demo_worker --help)\n";
    std::exit(2);
}

int parse_count(const std::string& option, const std::string& text, int max) {
    int value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size() || value < 1 || value > max) {
        usage_error(option + ": expected a whole number from 1 to " + std::to_string(max) + ", got \"" + text + "\"");
    }
    return value;
}

Arguments parse(int argc, char** argv) {
    Arguments arguments;
    std::vector<std::string> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        auto value = [&]() -> const std::string& {
            if (i + 1 >= args.size()) usage_error(arg + ": missing value");
            return args[++i];
        };
        if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            std::exit(0);
        } else if (arg == "--orders") {
            arguments.orders = parse_count(arg, value(), 1000000);
        } else if (arg == "--workers") {
            arguments.workers = parse_count(arg, value(), 64);
        } else if (arg == "--config") {
            arguments.config = value();
        } else if (arg == "--redis") {
            arguments.redis_url = value();
        } else if (arg == "--plain") {
            arguments.plain = true;
        } else {
            usage_error("unknown argument \"" + arg + "\"");
        }
    }
    return arguments;
}

// Log lines and the live status line share the terminal: each log line first clears the status
// line, then the status is drawn again below it.
class StatusLineSink final : public spdlog::sinks::base_sink<std::mutex> {
public:
    explicit StatusLineSink(bool live) : live_(live) {}
    void set_status(std::string status) {
        std::lock_guard lock(mutex_);
        status_ = std::move(status);
        if (live_) std::fprintf(stdout, "\r\033[2K%s", status_.c_str());
        std::fflush(stdout);
    }
    void clear_status() { set_status(""); }

protected:
    void sink_it_(const spdlog::details::log_msg& message) override {
        spdlog::memory_buf_t formatted;
        formatter_->format(message, formatted);
        if (live_) std::fputs("\r\033[2K", stdout);
        std::fwrite(formatted.data(), 1, formatted.size(), stdout);
        if (live_ && !status_.empty()) std::fputs(status_.c_str(), stdout);
    }
    void flush_() override { std::fflush(stdout); }

private:
    bool live_;
    std::string status_;
};

// How order n behaves on its k-th run (k from 1).
void fulfil(int n, int run) {
    if (n % 13 == 8) throw failpipe::PermanentError("card declined for order " + std::to_string(n));
    if (n % 17 == 9) throw std::runtime_error("segfault-like crash in legacy code for order " + std::to_string(n));
    if (n % 11 == 5 && run <= 3) throw failpipe::TransientError("warehouse API timed out (run " + std::to_string(run) + ")");
    if (n % 7 == 3 && run <= 1) throw failpipe::TransientError("payment gateway timed out");
}

std::shared_ptr<failpipe::AdapterInterface> make_adapter(const Arguments& arguments, const failpipe::Config& config) {
    if (arguments.redis_url.empty()) {
        failpipe::InMemoryAdapter::Options options;
        options.visibility_timeout = config.visibility_timeout;
    options.max_message_bytes = config.max_message_bytes;
        return std::make_shared<failpipe::InMemoryAdapter>(options);
    }
#if FAILPIPE_HAVE_REDIS
    failpipe::RedisAdapter::Options options;
    options.url = arguments.redis_url;
    options.key_prefix = "failpipe-demo-" + failpipe::generate_message_id().substr(0, 16);  // the random part: a new prefix every run
    options.visibility_timeout = config.visibility_timeout;
    options.max_message_bytes = config.max_message_bytes;
    // The config's "keyLayout" and "durability" (or the URL's ?keyLayout=, ?durability=).
    return std::make_shared<failpipe::RedisAdapter>(failpipe::RedisAdapter::with_config(std::move(options), config));
#else
    usage_error("--redis: this build has no Redis adapter (configure with FAILPIPE_WITH_REDIS=ON and libhiredis-dev)");
#endif
}

}  // namespace

int main(int argc, char** argv) {
    Arguments arguments = parse(argc, argv);

    // failpipe logs through the spdlog logger named "failpipe": register it first to see its
    // decisions (retries at debug, dead letters at warn) as they happen.
    const bool live = !arguments.plain && isatty(STDOUT_FILENO);
    auto sink = std::make_shared<StatusLineSink>(live);
    auto log = std::make_shared<spdlog::logger>("failpipe", sink);
    spdlog::register_logger(log);
    log->set_pattern("%H:%M:%S.%e %-5l %v");
    log->set_level(spdlog::level::debug);

    failpipe::Config config;
    try {
        config = failpipe::load_config_file(arguments.config);
    } catch (const failpipe::ConfigError& e) {
        std::cerr << "demo_worker: " << arguments.config << " is not a valid config:\n" << e.what() << "\n";
        return 1;
    }

    std::shared_ptr<failpipe::AdapterInterface> adapter;
    try {
        adapter = make_adapter(arguments, config);
    } catch (const failpipe::Error& e) {
        std::cerr << "demo_worker: " << e.what() << "\n";
        return 1;
    }

    const std::string channel = "orders";
    failpipe::Queue orders(adapter, channel);
    std::vector<failpipe::OutgoingMessage> batch;
    for (int n = 1; n <= arguments.orders; ++n) {
        batch.push_back({channel, failpipe::Message::create("order.place", {{"order", n}, {"amount", 10 * n}})});
    }
    int expected_total = arguments.orders;
    try {
        adapter->push_batch(std::move(batch));
    } catch (const failpipe::Error& e) {
        std::cerr << "demo_worker: could not push the orders: " << e.what() << "\n";
        return 1;
    }
    if (auto* memory = dynamic_cast<failpipe::InMemoryAdapter*>(adapter.get())) {
        memory->push_raw(channel, "{\"handler\": \"order.place\", \"data\": {\"order\": 0");  // truncated: poison
        ++expected_total;
    }
    std::cout << "pushed " << arguments.orders << " orders"
              << (expected_total > arguments.orders ? " and 1 poison message (bytes that are not a message)" : "")
              << " to \"" << channel << "\"; pipeline from " << arguments.config << "\n";

    // The worker consumes the channel and every channel its pipelines send to, except dead letters.
    failpipe::WorkerOptions worker_options = config.worker;
    std::set<std::string> channels{channel};
    auto collect = [&](const failpipe::FailurePipeline& pipeline) {
        for (const auto& middleware : pipeline) {
            if (auto* again = dynamic_cast<const failpipe::SendAgainMiddleware*>(middleware.get()); again && !again->queue().empty())
                channels.insert(again->queue());
            if (auto* delay = dynamic_cast<const failpipe::ExponentialDelayMiddleware*>(middleware.get());
                delay && !delay->queue().empty())
                channels.insert(delay->queue());
        }
    };
    collect(config.dispatcher.default_pipeline);
    for (const auto& [name, pipeline] : config.dispatcher.pipelines) {
        channels.insert(name);
        collect(pipeline);
    }
    worker_options.channels.assign(channels.begin(), channels.end());
    worker_options.wait = std::chrono::milliseconds(20);

    auto metrics = std::make_shared<failpipe::WorkerMetrics>();
    std::mutex runs_mutex;
    std::map<int, int> runs;
    std::atomic<bool> failed_to_run{false};
    std::vector<std::jthread> workers;
    for (int w = 0; w < arguments.workers; ++w) {
        workers.emplace_back([&](std::stop_token stop) {
            failpipe::Worker worker(adapter, config.make_dispatcher(), config.classifier, worker_options);
            worker.share_metrics(metrics);
            worker.on("order.place", [&](const failpipe::Message& message, failpipe::HandlerContext& context) {
                int n = message.data.at("order").get<int>();
                int run;
                {
                    std::lock_guard lock(runs_mutex);
                    run = ++runs[n];
                }
                fulfil(n, run);
                context.push("emails", failpipe::Message::create("email.receipt", {{"order", n}}));
            });
            try {
                worker.run(stop);
            } catch (const std::exception& e) {
                log->error("worker stopped: {}", e.what());
                failed_to_run = true;
            }
        });
    }

    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    auto settled = [&] {
        auto m = metrics->snapshot();
        return m.succeeded + m.dead_lettered + m.dropped;
    };
    while (settled() < static_cast<std::uint64_t>(expected_total) && !failed_to_run &&
           std::chrono::steady_clock::now() < deadline) {
        if (live) {
            auto m = metrics->snapshot();
            auto depth = adapter->depth(channel);
            char status[200];
            std::snprintf(status, sizeof status,
                          "[%3llu of %d messages settled] handled %llu  retried %llu  dead %llu  | orders: %zu ready, %zu delayed",
                          static_cast<unsigned long long>(settled()), expected_total,
                          static_cast<unsigned long long>(m.succeeded), static_cast<unsigned long long>(m.retried),
                          static_cast<unsigned long long>(m.dead_lettered), depth.ready, depth.delayed);
            sink->set_status(status);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    workers.clear();  // request stop and join
    if (live) sink->clear_status();

    auto m = metrics->snapshot();
    std::cout << "\nsummary: handled " << m.succeeded << ", failures " << m.failed << ", retried " << m.retried
              << ", dead-lettered " << m.dead_lettered << " (poison " << m.poison << "), dropped " << m.dropped << "\n";
    std::cout << "receipts sent (outbox, only for handled orders): " << adapter->depth("emails").total() << "\n";

    std::size_t dead_total = 0;
    for (const auto& name : adapter->channels()) {
        const auto& suffix = config.dispatcher.dead_letter_suffix;
        if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
        auto dead = adapter->browse(name, 0, 1000);
        dead_total += dead.size();
        std::cout << "dead letters in \"" << name << "\":\n";
        for (const auto& message : dead) {
            const auto& record = message.metadata.value("failpipe-dead-letter", nlohmann::json::object());
            std::cout << "  - " << (message.data.is_object() ? "order " + message.data.value("order", nlohmann::json()).dump()
                                                              : std::string("raw bytes"))
                      << ": " << record.value("reason", "?") << ", " << record.value("errorClass", "?") << " "
                      << record.value("errorType", "?") << " after " << record.value("attempts", 0) << " failure(s): "
                      << record.value("errorMessage", "") << "\n";
        }
    }
    bool accounted = m.succeeded + dead_total + m.dropped == static_cast<std::uint64_t>(expected_total);
    if (accounted && !failed_to_run) {
        std::cout << "all " << expected_total << " messages accounted for";
        if (expected_total > arguments.orders) std::cout << " (" << arguments.orders << " orders + 1 poison message)";
        std::cout << ": " << m.succeeded << " handled + " << dead_total << " in dead letters\n";
        return 0;
    }
    std::cout << "NOT all orders accounted for: " << m.succeeded << " handled + " << dead_total << " dead of "
              << expected_total << "\n";
    return 1;
}
