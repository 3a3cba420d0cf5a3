// `failpipe channels`: every channel of the broker, its depths and its dead letters.
#include <ostream>
#include <string>
#include <vector>

#include "broker.hpp"
#include "command.hpp"
#include "format.hpp"

namespace failpipe::cli {
namespace {

struct ChannelRow {
    std::string name;
    ChannelKind kind;
    ChannelDepth depth;  // `dead` filled for plain channels only
};

std::vector<ChannelRow> inventory(RedisAdapter& broker, const ChannelSuffixes& suffixes) {
    std::vector<ChannelRow> rows;
    for (const auto& name : broker.channels()) {
        const ChannelKind kind = suffixes.kind(name);
        rows.push_back({name, kind,
                        kind == ChannelKind::channel ? broker.depth_with_dead_letters(name, suffixes.dead_letter)
                                                     : broker.depth(name)});
    }
    return rows;
}

void print_json(std::ostream& out, const std::vector<ChannelRow>& rows, const ChannelSuffixes& suffixes) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& r : rows) {
        const bool plain = r.kind == ChannelKind::channel;
        nlohmann::ordered_json item;
        item["channel"] = r.name;
        item["kind"] = std::string(to_string(r.kind));
        item["ready"] = r.depth.ready;
        item["delayed"] = r.depth.delayed;
        item["reserved"] = r.depth.reserved;
        item["deadLetterChannel"] = plain ? nlohmann::ordered_json(suffixes.dead_letters_of(r.name)) : nullptr;
        item["dead"] = plain ? nlohmann::ordered_json(r.depth.dead) : nullptr;
        list.push_back(std::move(item));
    }
    nlohmann::ordered_json doc;
    doc["channels"] = std::move(list);
    out << doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
}

void print_text(std::ostream& out, const std::vector<ChannelRow>& rows, const ChannelSuffixes& suffixes) {
    if (rows.empty()) {
        out << "no channels\n";
        return;
    }
    print_table(out, {"channel", "kind", "ready", "delayed", "reserved", "dead-letters", "dead"}, rows.size(),
                [&](std::size_t i) -> std::vector<std::string> {
                    const ChannelRow& r = rows[i];
                    const bool plain = r.kind == ChannelKind::channel;
                    return {shorten(r.name), std::string(to_string(r.kind)), std::to_string(r.depth.ready),
                            std::to_string(r.depth.delayed), std::to_string(r.depth.reserved),
                            plain ? shorten(suffixes.dead_letters_of(r.name)) : "-",
                            plain ? std::to_string(r.depth.dead) : "-"};
                },
                {2, 3, 4, 6});
}

int run_channels(const Invocation& inv) {
    const std::string format = inv.args.choice("format", {"table", "json"}, "table");
    const Deployment deployment = deployment_of(inv.args);
    auto broker = connect_broker(inv.args, deployment);
    const auto rows = inventory(*broker, deployment.suffixes);
    if (format == "json") {
        print_json(inv.out, rows, deployment.suffixes);
    } else {
        print_text(inv.out, rows, deployment.suffixes);
    }
    return kExitOk;
}

}  // namespace

Command channels_command() {
    Command c;
    c.words = {"channels"};
    c.summary = "List the broker's channels with their depths and dead letters";
    c.description =
        "Lists every channel that holds or has held a message, once each, with its kind: channel,\n"
        "dead-letter (name ending in the deadLetterSuffix of --config, default :dlq) or parked (name\n"
        "ending in :parked). For a channel: how many messages are ready, delayed and reserved, its\n"
        "dead-letter channel and how many wait there.\n"
        "The JSON form is described in docs/cli.md.";
    c.options = {{"format", "F", "table or json (default table)"}};
    for (auto& o : broker_options()) c.options.push_back(std::move(o));
    c.examples = {"failpipe channels", "failpipe channels --redis redis://10.0.0.5:6379/2 --prefix shop --format json"};
    c.run = run_channels;
    return c;
}

}  // namespace failpipe::cli
