// Fuzz target: loading a deployment's config from bytes (failpipe::parse_config).
//
// Properties: any bytes either load or are refused with ConfigError (never another exception,
// never a crash, no unbounded time or memory — libFuzzer's -timeout and -rss_limit_mb catch those);
// a refusal names at least one problem; a config that loads builds a dispatcher whose retry schedule
// (failpipe::explain, as `failpipe explain` prints it) can be computed without throwing for "orders"
// and up to three channels it names; every channel that schedule sends the message to, and every
// dead-letter channel, is in the shard group of the channel it started on (a settle stays in one
// hash slot on a Redis Cluster), and every group's name makes a valid hash tag.
#include <string>

#include "../fuzz_support.hpp"
#include "failpipe/config.hpp"
#include "failpipe/error.hpp"
#include "failpipe/explain.hpp"
#include "failpipe/shard_groups.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace failpipe;
    static const auto clock = std::make_shared<ManualClock>();
    Config config;
    try {
        config = parse_config(fuzz::as_text(data, size), MiddlewareRegistry::with_builtins(), clock);
    } catch (const ConfigError& e) {
        fuzz::check(std::string_view(e.what()).size() > 0, "a refused config says why");
        return 0;
    }

    const FailureMiddlewareDispatcher dispatcher = config.make_dispatcher();
    std::vector<std::string> channels{"orders"};
    // A few channels and steps are enough to reach every middleware; more would only slow the search.
    for (const auto& [channel, pipeline] : config.dispatcher.pipelines) {
        if (channels.size() == 4) break;
        channels.push_back(channel);
    }
    for (const auto& channel : channels) {
        for (const ErrorClass error_class : {ErrorClass::unknown, ErrorClass::transient, ErrorClass::permanent}) {
            ExplainOptions options;
            options.channel = channel;
            options.max_failures = 50;
            options.error_class = error_class;
            const auto steps = explain(dispatcher, options);
            fuzz::check(!steps.empty(), "explain reports the first failure");
            fuzz::check(steps.size() <= 50, "explain stops at max_failures");
            for (const auto& step : steps) {
                fuzz::check(config.shard_groups.same_group(channel, step.channel), "a retry stays in its shard group");
                if (!step.decision.to.empty())
                    fuzz::check(config.shard_groups.same_group(channel, step.decision.to),
                                "a push of the pipeline stays in its shard group");
            }
        }
    }
    for (const auto& group : config.shard_groups.groups())
        fuzz::check(!shard_group_name_problem(group.name), "a group's name makes a valid hash tag");
    return 0;
}
