// `failpipe stats`: per channel, how many messages are ready, delayed, reserved, dead and parked,
// and how many dead letters retention evicted.
#include <algorithm>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "broker.hpp"
#include "command.hpp"
#include "failpipe/middleware_registry.hpp"
#include "format.hpp"

namespace failpipe::cli {
namespace {

struct ChannelStats {
    std::string name;
    ChannelDepth depth;
    std::size_t dead = 0;
    std::size_t parked = 0;
    std::uint64_t evicted = 0;  // by retention, ever (the broker's counter of C:dlq)
};

std::size_t waiting(const ChannelDepth& d) { return d.ready + d.delayed; }

// The channels that have messages of their own or dead/parked ones: a dead-letter channel counts
// for the channel it belongs to, not as a channel of its own.
std::vector<std::string> base_channels(const std::vector<std::string>& all) {
    std::vector<std::string> bases;
    for (const auto& name : all) bases.push_back(base_channel(name));
    std::sort(bases.begin(), bases.end());
    bases.erase(std::unique(bases.begin(), bases.end()), bases.end());
    return bases;
}

ChannelStats stats_of(RedisAdapter& broker, const std::string& channel) {
    ChannelStats s{channel, broker.depth(channel)};
    s.dead = waiting(broker.depth(channel + std::string(kDeadLetterSuffix)));
    s.parked = waiting(broker.depth(channel + std::string(kParkedSuffix)));
    s.evicted = broker.evicted(channel + std::string(kDeadLetterSuffix));
    return s;
}

void print_json(std::ostream& out, const std::vector<ChannelStats>& stats) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& s : stats) {
        nlohmann::ordered_json item;
        item["channel"] = s.name;
        item["ready"] = s.depth.ready;
        item["delayed"] = s.depth.delayed;
        item["reserved"] = s.depth.reserved;
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
                    return {shorten(s.name),           std::to_string(s.depth.ready), std::to_string(s.depth.delayed),
                            std::to_string(s.depth.reserved), std::to_string(s.dead), std::to_string(s.parked),
                            std::to_string(s.evicted)};
                },
                {1, 2, 3, 4, 5, 6});
}

int run_stats(const Invocation& inv) {
    const std::string format = inv.args.choice("format", {"text", "json"}, "text");
    const auto wanted = inv.args.value("channel");
    if (wanted && wanted->empty()) throw UsageError("--channel expects a channel name, found \"\"");
    auto broker = connect_broker(inv.args);
    const auto bases = base_channels(broker->channels());
    std::vector<std::string> chosen = bases;
    if (wanted) {
        const std::string channel = base_channel(*wanted);
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
    for (const auto& channel : chosen) stats.push_back(stats_of(*broker, channel));
    if (format == "json") {
        print_json(inv.out, stats);
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
        "by a worker), dead letters waiting in C:dlq, parked messages waiting in C:parked, and how many dead letters\n"
        "retention (deadLetters.maxCount / maxAge) evicted from C:dlq, ever.\n"
        "A channel that never held a message is an error (exit 1). The JSON form is described in docs/cli.md.";
    c.options = {{"channel", "C", "only this channel"}, {"format", "F", "text or json (default text)"}};
    for (auto& o : broker_options()) c.options.push_back(std::move(o));
    c.examples = {"failpipe stats", "failpipe stats --channel orders --format json"};
    c.run = run_stats;
    return c;
}

}  // namespace failpipe::cli
