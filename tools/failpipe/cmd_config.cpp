// `failpipe config check FILE`: load a config exactly as a worker would, and say what is in it.
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "command.hpp"
#include "failpipe/config.hpp"
#include "failpipe/explain.hpp"
#include "failpipe/shard_groups.hpp"

namespace failpipe::cli {
namespace {

std::string count(std::size_t n, const char* noun) { return std::to_string(n) + " " + noun + (n == 1 ? "" : "s"); }

// `ok: 2 pipelines (default: 2 middlewares; failed-messages: 1 middleware), final dead-letter`
std::string summary(const Config& config) {
    const auto& d = config.dispatcher;
    std::string out = "ok: " + count(1 + d.pipelines.size(), "pipeline") +
                      " (default: " + count(d.default_pipeline.size(), "middleware");
    for (const auto& [channel, pipeline] : d.pipelines)
        out += "; " + channel + ": " + count(pipeline.size(), "middleware");
    out += "), final " + std::string(to_string(d.final_behavior));
    if (const auto* rules = config.document.contains("classification") ? &config.document["classification"] : nullptr;
        rules && rules->is_array() && !rules->empty())
        out += ", " + count(rules->size(), "classification rule");
    if (!config.worker.channels.empty()) out += ", worker on " + count(config.worker.channels.size(), "channel");
    return out;
}

std::string number_text(double value) {
    std::ostringstream out;
    out << value;
    return out.str();
}

std::string budget_text(const RetryBudgetOptions& o) {
    return number_text(o.ratio_percent) + "% of first attempts per " + number_text(o.window.count()) + " s (at least " +
           std::to_string(o.min_retries) + "), past it a retry waits its maximum delay (fallbackDelay " +
           number_text(o.fallback_delay.count()) + " s)";
}

// The runtime sections a worker pool acts on, one line each, only when configured: what a reviewer
// of the file must not overlook (a breaker that releases, a budget that slows retries, a port).
void print_runtime(std::ostream& out, const Config& config) {
    if (!config.breakers.empty()) out << count(config.breakers.size(), "circuit breaker") << ":\n";
    for (const auto& line : explain_breakers(config.breakers, std::nullopt)) out << "  " << line << '\n';
    if (const auto& budget = config.retry_budget) {
        out << "retry budget:";
        if (budget->default_options()) out << "\n  any channel: " << budget_text(*budget->default_options());
        for (const auto& [channel, options] : budget->channel_options())
            out << "\n  " << channel << ": " << budget_text(options);
        out << '\n';
    }
    if (const auto& d = config.pool.degradation; d.enabled) {
        out << "degradation: a channel whose failure ratio over " << number_text(d.window.count()) << " s is above "
            << number_text(d.failure_ratio) << " (at least " << d.minimum_samples << " deliveries) gets its concurrency "
            << "times " << number_text(d.decrease_factor) << " (not below " << d.minimum_concurrency << "), then +"
            << d.increase_step << " per " << number_text(d.interval.count()) << " s as it recovers\n";
    }
    if (config.pool.threads > 1)
        out << "worker pool: " << count(config.pool.threads, "thread") << ", shutdown grace "
            << number_text(config.pool.shutdown_grace.count()) << " s\n";
    if (config.http_listen) {
        out << "http: /metrics and /health on " << config.http_listen->to_string()
            << (config.http_listen->loopback() ? "" : " (not loopback: reachable from other machines)") << '\n';
    }
}

// The key prefix shown when --prefix is not given: RedisAdapter::Options::key_prefix's default (the
// tool may be built without the Redis adapter).
constexpr const char* kDefaultPrefix = "failpipe";
// A group's channels listed on its line; a larger group says how many more.
constexpr std::size_t kShownChannels = 20;

std::string channel_list(const std::vector<std::string>& channels) {
    std::string out;
    for (std::size_t i = 0; i < channels.size() && i < kShownChannels; ++i) out += (i == 0 ? "" : ", ") + channels[i];
    if (channels.size() > kShownChannels) out += ", and " + std::to_string(channels.size() - kShownChannels) + " more";
    return out;
}

// `shard groups (...)`, one line per group, then what falls outside them and any warnings.
void print_groups(std::ostream& out, const ShardGroups& groups, const std::string& prefix) {
    out << "shard groups: " << groups.groups().size() << " (hash tag {" << prefix
        << ":<group>} on a Redis Cluster, {" << prefix << "} on one Redis)\n";
    std::map<std::uint16_t, std::vector<std::string>> by_slot;
    for (const auto& group : groups.groups()) {
        const std::uint16_t slot = shard_slot(prefix, group.name);
        by_slot[slot].push_back(group.name);
        out << "  " << group.name << (group.named ? " (named)" : "") << ": " << shard_hash_tag(prefix, group.name)
            << " slot " << slot << ", " << count(group.channels.size(), "channel") << ": " << channel_list(group.channels)
            << '\n';
    }
    if (groups.default_group())
        out << "  any other channel: in group " << *groups.default_group()
            << " (the default pipeline pushes to it)\n";
    else
        out << "  any other channel: a group of its own, named after it\n";
    for (const auto& [slot, names] : by_slot) {
        if (names.size() < 2) continue;
        out << "warning: groups " << channel_list(names) << " share slot " << slot
            << ", so one master serves them all; name groups in \"groups\" to spread them\n";
    }
    for (const auto& undeclared : groups.undeclared())
        out << "warning: middleware " << undeclared.middleware << " of "
            << (undeclared.channel.empty() ? std::string("the default pipeline") : "the pipeline of " + undeclared.channel)
            << " does not say where it pushes: a push of it to another group would not be atomic on a Redis Cluster\n";
}

int run_check(const Invocation& inv) {
    const std::string& file = inv.args.positionals.at(0);
    require_file(file);
    const std::string prefix = inv.args.value("prefix").value_or(kDefaultPrefix);
    if (prefix.empty() || prefix.find_first_of("{}") != std::string::npos)
        throw UsageError("--prefix expects a non-empty key prefix without '{' or '}', found " + quote(prefix));
    try {
        const Config config = load_config_file(file);
        inv.out << summary(config) << '\n';
        print_runtime(inv.out, config);
        print_groups(inv.out, config.shard_groups, prefix);
        return kExitOk;
    } catch (const ConfigError& e) {
        print_config_issues(inv.err, file, e);
        return kExitFailed;
    }
}

}  // namespace

Command config_check_command() {
    Command c;
    c.words = {"config", "check"};
    c.summary = "Check a config file and summarise its pipelines";
    c.description =
        "Loads FILE as a worker would: every middleware is built and every parameter checked.\n"
        "Prints a one-line summary; the circuit breakers, retry budget, degradation, worker pool and\n"
        "http endpoint when the file configures them; then the shard groups (docs/shard-groups.md):\n"
        "each group's hash tag and Redis Cluster slot under the key prefix P and its channels, with a\n"
        "warning when two groups share a slot; and exits 0. Or prints every problem on its own line\n"
        "(FILE: /json/pointer: what was expected, what was found) and exits 1.";
    c.positionals = {{"FILE", "the JSON config (see docs/config.md)"}};
    c.options = {{"prefix", "P", std::string("the key prefix the workers use (default ") + kDefaultPrefix + ")"}};
    c.examples = {"failpipe config check config/yii-guide.json"};
    c.run = run_check;
    return c;
}

}  // namespace failpipe::cli
