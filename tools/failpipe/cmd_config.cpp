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
#include "format.hpp"

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
// Lines go out through print_line: breaker and channel names may hold control bytes.
void print_runtime(std::ostream& out, const Config& config) {
    if (!config.breakers.empty()) print_line(out, count(config.breakers.size(), "circuit breaker") + ":");
    for (const auto& line : explain_breakers(config.breakers, std::nullopt)) print_line(out, "  " + line);
    if (const auto& budget = config.retry_budget) {
        print_line(out, "retry budget:");
        if (budget->default_options()) print_line(out, "  any channel: " + budget_text(*budget->default_options()));
        for (const auto& [channel, options] : budget->channel_options())
            print_line(out, "  " + channel + ": " + budget_text(options));
    }
    if (const auto& d = config.pool.degradation; d.enabled) {
        print_line(out, "degradation: a channel whose failure ratio over " + number_text(d.window.count()) +
                            " s is above " + number_text(d.failure_ratio) + " (at least " +
                            std::to_string(d.minimum_samples) + " deliveries) gets its concurrency times " +
                            number_text(d.decrease_factor) + " (not below " + std::to_string(d.minimum_concurrency) +
                            "), then +" + std::to_string(d.increase_step) + " per " + number_text(d.interval.count()) +
                            " s as it recovers");
    }
    if (config.pool.threads > 1)
        print_line(out, "worker pool: " + count(config.pool.threads, "thread") + ", shutdown grace " +
                            number_text(config.pool.shutdown_grace.count()) + " s");
    if (config.http_listen) {
        print_line(out, "http: /metrics and /health on " + config.http_listen->to_string() +
                            (config.http_listen->loopback() ? "" : " (not loopback: reachable from other machines)"));
    }
}

std::string durability_text(const DurabilitySetting& d) {
    if (d.mode == DurabilitySetting::Mode::master) return "durability: master: a settle or a push is done once the master applied it";
    return "durability: replicas: a settle or a push is done once " + std::to_string(d.replicas) +
           " replica(s) confirmed it within " + std::to_string(d.wait.count()) + " ms (WAIT), else it fails as not confirmed";
}

std::string retention_text(const RetentionPolicy& r) {
    std::string limits;
    if (r.max_count) limits = "at most " + std::to_string(*r.max_count) + " per dead-letter channel";
    if (r.max_age) limits += (limits.empty() ? "" : ", ") + std::string("none older than ") + number_text(r.max_age->count()) + " s";
    return "dead-letter retention: " + limits + "; the oldest beyond it are evicted, counted (failpipe stats: evicted) and logged";
}

// The settings of the dashboard, the broker and the dead letters, one line each, only when the file
// sets them (absent, each has the default docs/config.md gives): what a worker and the tools act on.
void print_settings(std::ostream& out, const Config& config) {
    if (const auto& listen = config.dashboard.listen) {
        print_line(out, "dashboard: on " + listen->to_string() + (config.dashboard.read_only ? ", read-only" : "") +
                            (listen->loopback() ? "" : " (not loopback: reachable from other machines)"));
    }
    if (config.durability) print_line(out, durability_text(*config.durability));
    if (config.max_message_bytes > 0) {
        print_line(out, "maxMessageBytes: " + std::to_string(config.max_message_bytes) +
                            ": a larger message is refused at push; one that arrives is dead-lettered as poison");
    }
    if (config.worker.dead_letter_retention.enabled()) print_line(out, retention_text(config.worker.dead_letter_retention));
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
void print_groups(std::ostream& out, const ShardGroups& groups, const std::string& prefix, bool grouped_layout) {
    const std::string total = "shard groups: " + std::to_string(groups.groups().size());
    if (grouped_layout)
        print_line(out, total + " (keyLayout groups: each group's keys under {" + prefix + ":<group>})");
    else
        print_line(out, total + " (keyLayout prefix: every key under {" + prefix + "}; with \"keyLayout\": \"groups\" under {" +
                            prefix + ":<group>})");
    std::map<std::uint16_t, std::vector<std::string>> by_slot;
    for (const auto& group : groups.groups()) {
        const std::uint16_t slot = shard_slot(prefix, group.name);
        by_slot[slot].push_back(group.name);
        print_line(out, "  " + group.name + (group.named ? " (named)" : "") + ": " + shard_hash_tag(prefix, group.name) +
                            " slot " + std::to_string(slot) + ", " + count(group.channels.size(), "channel") + ": " +
                            channel_list(group.channels));
    }
    if (groups.default_group())
        print_line(out, "  any other channel: in group " + *groups.default_group() + " (the default pipeline pushes to it)");
    else
        print_line(out, "  any other channel: a group of its own, named after it");
    for (const auto& [slot, names] : by_slot) {
        if (names.size() < 2) continue;
        print_line(out, "warning: groups " + channel_list(names) + " share slot " + std::to_string(slot) +
                            ", so one master serves them all; name groups in \"groups\" to spread them");
    }
    for (const auto& undeclared : groups.undeclared())
        print_line(out, "warning: middleware " + undeclared.middleware + " of " +
                            (undeclared.channel.empty() ? std::string("the default pipeline")
                                                        : "the pipeline of " + undeclared.channel) +
                            " does not say where it pushes: a push of it to another group would not be atomic on a "
                            "Redis Cluster");
}

int run_check(const Invocation& inv) {
    const std::string& file = inv.args.positionals.at(0);
    require_file(file);
    const std::string prefix = inv.args.value("prefix").value_or(kDefaultPrefix);
    require_prefix(prefix);
    try {
        const Config config = load_config_file(file);
        print_line(inv.out, summary(config));
        print_runtime(inv.out, config);
        print_settings(inv.out, config);
        print_groups(inv.out, config.shard_groups, prefix, config.key_layout == KeyLayout::groups);
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
        "Prints a one-line summary; the circuit breakers, retry budget, degradation, worker pool,\n"
        "http endpoint, dashboard, durability, maxMessageBytes and dead-letter retention when the file\n"
        "configures them; then the shard groups (docs/shard-groups.md):\n"
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
