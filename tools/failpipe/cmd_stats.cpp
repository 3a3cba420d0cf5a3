// `failpipe stats`: per channel, how many messages are ready, delayed, reserved, dead and parked,
// and how many dead letters retention evicted (counted by the library: failpipe/channel_stats.hpp),
// as a table, JSON or Prometheus text.
#include <algorithm>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "broker.hpp"
#include "command.hpp"
#include "failpipe/channel_stats.hpp"
#include "failpipe/middleware_registry.hpp"
#include "failpipe/prometheus.hpp"
#include "format.hpp"

namespace failpipe::cli {
namespace {

void print_json(std::ostream& out, const std::vector<ChannelStats>& stats) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& s : stats) {
        nlohmann::ordered_json item;
        item["channel"] = s.channel;
        item["ready"] = s.ready;
        item["delayed"] = s.delayed;
        item["reserved"] = s.reserved;
        item["dead"] = s.dead;
        item["parked"] = s.parked;
        item["evicted"] = s.evicted;
        list.push_back(std::move(item));
    }
    nlohmann::ordered_json doc;
    doc["channels"] = std::move(list);
    out << doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
}

void print_text(std::ostream& out, const std::vector<ChannelStats>& stats) {
    if (stats.empty()) {
        out << "no channels\n";
        return;
    }
    print_table(out, {"channel", "ready", "delayed", "reserved", "dead", "parked", "evicted"}, stats.size(),
                [&](std::size_t i) -> std::vector<std::string> {
                    const ChannelStats& s = stats[i];
                    return {shorten(s.channel),       std::to_string(s.ready),  std::to_string(s.delayed),
                            std::to_string(s.reserved), std::to_string(s.dead),   std::to_string(s.parked),
                            std::to_string(s.evicted)};
                },
                {1, 2, 3, 4, 5, 6});
}

// The same counts as gauges (and the eviction counter), in the exposition format of Metrics.
void print_prometheus(std::ostream& out, const std::vector<ChannelStats>& stats) {
    PrometheusWriter writer;
    write_depth_gauges(writer, stats);
    out << writer.str();
}

int run_stats(const Invocation& inv) {
    const std::string format = inv.args.choice("format", {"text", "json", "prometheus"}, "text");
    const auto wanted = inv.args.value("channel");
    if (wanted && wanted->empty()) throw UsageError("--channel expects a channel name, found \"\"");
    const Deployment deployment = deployment_of(inv.args);
    auto broker = connect_broker(inv.args, deployment);
    const ChannelStatsOptions suffixes = deployment.suffixes.stats_options();
    const auto bases = base_channels(broker->channels(), suffixes);
    std::vector<std::string> chosen = bases;
    if (wanted) {
        const std::string channel = deployment.suffixes.base(*wanted);
        if (std::find(bases.begin(), bases.end(), channel) == bases.end()) {
            std::string message = "no channel " + quote(channel) + " under prefix " +
                                  quote(broker->options().key_prefix);
            if (auto near = nearest_word(channel, bases)) message += "; did you mean " + quote(*near) + "?";
            inv.err << "failpipe stats: " << message << '\n';
            return kExitFailed;
        }
        chosen = {channel};
    }
    std::vector<ChannelStats> stats;
    for (const auto& channel : chosen) stats.push_back(channel_stats(*broker, channel, suffixes));
    if (format == "json") {
        print_json(inv.out, stats);
    } else if (format == "prometheus") {
        print_prometheus(inv.out, stats);
    } else {
        print_text(inv.out, stats);
    }
    return kExitOk;
}

}  // namespace

Command stats_command() {
    Command c;
    c.words = {"stats"};
    c.summary = "Count the messages of each channel: ready, delayed, reserved, dead, parked, evicted";
    c.description =
        "For each channel (or only --channel C): messages ready, delayed (due later) and reserved (held\n"
        "by a worker), dead letters waiting in C:dlq (C + the deadLetterSuffix of --config, default :dlq),\n"
        "parked messages waiting in C:parked, and how many dead letters retention (deadLetters.maxCount /\n"
        "maxAge) evicted from the dead-letter channel, ever.\n"
        "A channel that never held a message is an error (exit 1). The JSON form is described in docs/cli.md;\n"
        "--format prometheus prints the same counts as Prometheus gauges (text format 0.0.4, docs/metrics.md),\n"
        "for a node-exporter textfile or a cron job.";
    c.options = {{"channel", "C", "only this channel"}, {"format", "F", "text, json or prometheus (default text)"}};
    for (auto& o : broker_options()) c.options.push_back(std::move(o));
    c.examples = {"failpipe stats", "failpipe stats --channel orders --format json", "failpipe stats --format prometheus"};
    c.run = run_stats;
    return c;
}

}  // namespace failpipe::cli
