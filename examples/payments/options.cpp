#include "options.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <string_view>
#include <vector>

namespace payments {
namespace {

const char* kUsage = R"(failpipe_payments — the main job: payments through non-blocking retry levels

usage: failpipe_payments [options]

  --messages N      payments to produce (default 10000; 1 … 1000000)
  --threads N       worker threads (default: the config's worker.threads, 4; 1 … 64)
  --fail-rate R     share of gateway calls that time out, transient (default 0.10; 0 … 0.45: at
                    50 % failures and more the gateway breaker, failureRatio 50, holds the payments
                    as long as the gateway looks down — that is what a breaker is for — and the
                    run would never end)
  --seed N          seed of the simulation: the same seed, the same payments and gateway answers (default 1)
  --time-scale S    every simulated duration times S (default 0.02; 1 = real time: 5 s, 15 s, 60 s
                    retry levels, a 100 s outage; 0.0001 … 1)
  --outage-at S     simulated seconds after the start when the gateway goes down, times
                    --time-scale like every duration (default 20: 0.4 s at 0.02)
  --outage-for S    simulated seconds the gateway stays down, times --time-scale (default 100;
                    0 = no outage)
  --redis [URL]     run on Redis at URL; without a URL, start a private redis-server on a free
                    127.0.0.1 port and stop it at the end
  --prefix P        Redis key prefix (default: failpipe-payments-<random>, new every run)
  --config FILE     the pipeline config (default config/payments.json)
  --json            print the report as one JSON object (keys: docs/payments.md)
  --quiet           no live progress line (it is only drawn on a terminal anyway)
  --timeout S       give up after S wall seconds (default: enough for the run)
  --listen H:P      serve GET /metrics (Prometheus) and GET /health while it runs, e.g.
                    127.0.0.1:9464 (default: the config's http.listen; none there: no server)
  --dashboard H:P   serve the web dashboard (docs/dashboard.md) while it runs, e.g. 127.0.0.1:8080;
                    its URL and token go to stderr (default: the config's dashboard.listen)
  -h, --help        this help

Exit status: 0 every payment accounted for (lost = 0, the figures add up), 1 not, 2 bad arguments.
)";

// Not up to 0.5: from there the gateway breaker (failureRatio 50) sees the gateway as down for good.
const char* kFailRateRange =
    "from 0 to 0.45 (at 50 % failures and more the gateway breaker holds the payments as long as the gateway "
    "looks down, so the run would never end)";

[[noreturn]] void bad(const std::string& message) {
    std::cerr << "failpipe_payments: " << message << "\n(see failpipe_payments --help)\n";
    std::exit(2);
}

std::uint64_t whole(const std::string& option, const std::string& text, std::uint64_t min, std::uint64_t max) {
    std::uint64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc{} || end != text.data() + text.size() || value < min || value > max) {
        bad(option + ": expected a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
            ", got \"" + text + "\"");
    }
    return value;
}

double number(const std::string& option, const std::string& text, double min, double max, const char* range) {
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value) || value < min || value > max) {
        bad(option + ": expected a number " + range + ", got \"" + text + "\"");
    }
    return value;
}

}  // namespace

Options parse_options(int argc, char** argv) {
    Options options;
    options.config = std::string(FAILPIPE_SOURCE_DIR) + "/config/payments.json";
    const std::vector<std::string> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        auto value = [&]() -> const std::string& {
            if (i + 1 >= args.size()) bad(arg + ": missing value");
            return args[++i];
        };
        if (arg == "--help" || arg == "-h") {
            std::cout << kUsage;
            std::exit(0);
        } else if (arg == "--messages") {
            options.messages = whole(arg, value(), 1, 1000000);
        } else if (arg == "--threads") {
            options.threads = whole(arg, value(), 1, 64);
        } else if (arg == "--fail-rate") {
            options.fail_rate = number(arg, value(), 0.0, 0.45, kFailRateRange);
        } else if (arg == "--seed") {
            options.seed = whole(arg, value(), 0, UINT64_MAX);
        } else if (arg == "--time-scale") {
            options.time_scale = number(arg, value(), 0.0001, 1.0, "from 0.0001 to 1");
        } else if (arg == "--outage-at") {
            options.outage_at = number(arg, value(), 0.0, 86400.0, "of seconds from 0 to 86400");
        } else if (arg == "--outage-for") {
            options.outage_for = number(arg, value(), 0.0, 86400.0, "of seconds from 0 to 86400");
        } else if (arg == "--redis") {
            options.redis = true;
            // The URL is optional: without one (next argument missing or another option) a private
            // redis-server is started.
            if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) options.redis_url = args[++i];
        } else if (arg == "--prefix") {
            options.prefix = value();
            if (options.prefix.empty()) bad("--prefix: expected a non-empty key prefix");
        } else if (arg == "--config") {
            options.config = value();
        } else if (arg == "--json") {
            options.json = true;
        } else if (arg == "--quiet") {
            options.quiet = true;
        } else if (arg == "--listen") {
            options.listen = value();
        } else if (arg == "--dashboard") {
            options.dashboard = value();
        } else if (arg == "--timeout") {
            options.timeout = whole(arg, value(), 1, 86400);
        } else {
            bad("unknown option \"" + arg + "\"");
        }
    }
    if (!options.prefix.empty() && !options.redis) bad("--prefix: only with --redis");
    return options;
}

}  // namespace payments
