// `failpipe dlq list|show|groups|replay|purge`: thin layers over failpipe::DeadLetters.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "broker.hpp"
#include "command.hpp"
#include "duration.hpp"
#include "failpipe/dead_letter_filter_params.hpp"
#include "failpipe/dead_letters.hpp"
#include "failpipe/memory/in_memory_adapter.hpp"
#include "failpipe/metadata_keys.hpp"
#include "failpipe/middleware_registry.hpp"
#include "format.hpp"
#include "progress.hpp"

namespace failpipe::cli {
namespace {

// How many ids a purge without --yes prints before summing up the rest.
constexpr std::size_t kShownIds = 50;

std::vector<OptionSpec> filter_options() {
    return {{"channel", "C",
             "the channel whose dead letters are meant (in C:dlq, or C + the deadLetterSuffix of --config); a "
             "dead-letter or parked channel's own name as it is",
             true},
            {"error-type", "T", "only this error type (exactly)"},
            {"reason", "R", "only this reason: failure, poison, max-deliveries, pipeline-error, settle-error, expired"},
            {"class", "K", "only this error class: transient, permanent, unknown"},
            {"group", "KEY", "only this fingerprint (see dlq groups)"},
            {"grep", "REGEX", "only error messages matching this ECMAScript regular expression"},
            {"since", "WHEN", "only dead letters recorded in the last WHEN (90s, 15m, 2h, 7d) or from the UTC time WHEN on (2026-03-01T10:00:00Z)"},
            {"until", "WHEN", "only dead letters recorded more than WHEN ago, or before the UTC time WHEN"}};
}

std::vector<OptionSpec> with_broker(std::vector<OptionSpec> options) {
    for (auto& o : broker_options()) options.push_back(std::move(o));
    return options;
}

// Read by the library's parser, as the dashboard reads its query: the same values, the same messages.
DeadLetterFilter filter_of(const ParsedArgs& args) {
    FilterParams params;
    for (const auto& name : dead_letter_filter_names(FilterParamStyle::option))
        if (const auto value = args.value(name)) params.emplace_back(name, *value);
    try {
        return parse_dead_letter_filter(params, FilterParamStyle::option);
    } catch (const DeadLetterFilterError& e) {
        throw UsageError(e.what());
    }
}

// A bad filter or option is a usage error before the broker is contacted: the same call is made
// first on an empty in-memory adapter, which checks every argument and changes nothing (with the
// deployment's suffixes: `--to orders:dead` is a dead-letter channel where the suffix is ":dead").
template <class Call>
void check_arguments(const DeadLetters::Options& options, Call&& call) {
    try {
        call(DeadLetters(std::make_shared<InMemoryAdapter>(), options));
    } catch (const InvalidArgumentError& e) {
        throw UsageError(e.what());
    }
}

// The dead letters of a channel that never held any are an error (exit 1) naming the nearest channel.
bool known_channel(const Invocation& inv, RedisAdapter& broker, const DeadLetters& letters, const std::string& channel,
                   const std::string& command) {
    const auto all = broker.channels();
    const std::string dlq = letters.dead_letter_channel(channel);
    if (std::find(all.begin(), all.end(), dlq) != all.end()) return true;
    std::string message = "no dead-letter channel " + quote(dlq) + " under prefix " + quote(broker.options().key_prefix);
    if (auto near = nearest_word(dlq, all)) message += "; did you mean " + quote(*near) + "?";
    inv.err << "failpipe dlq " << command << ": " << message << '\n';
    return false;
}

std::size_t limit_of(const ParsedArgs& args, long long max, long long fallback) {
    return static_cast<std::size_t>(args.integer("limit", 1, max, fallback));
}

nlohmann::ordered_json letter_json(const DeadLetter& d) {
    nlohmann::ordered_json item;
    item["id"] = d.id;
    item["time"] = d.time;
    item["reason"] = d.reason;
    item["errorType"] = d.error_type;
    item["errorMessage"] = d.error_message;
    item["errorClass"] = d.error_class;
    item["fingerprint"] = d.fingerprint;
    item["attempts"] = d.attempts;
    item["originalChannel"] = d.original_channel;
    item["replays"] = d.replays;
    item["undecodable"] = d.undecodable;
    return item;
}

std::string dump(const nlohmann::ordered_json& doc, int indent = -1) {
    return doc.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

// What --config says, read before the broker is contacted (a bad config is a usage error): the
// suffixes the workers name dead-letter and parked channels with, and, for a replay, the channels
// the config names (trusted as origins, besides those the broker lists; the dashboard's rule too).
struct Setup {
    Deployment deployment;
    DeadLetters::Options options;
    explicit Setup(const ParsedArgs& args) : deployment(deployment_of(args)) {
        options.dead_letter_suffix = deployment.suffixes.dead_letter;
        options.parked_suffix = deployment.suffixes.parked;
        if (const Config* config = deployment.config_or_null())
            options.known_channels = configured_channels(*config);
    }
};

struct Session {
    std::shared_ptr<RedisAdapter> broker;
    DeadLetters letters;
    Session(const ParsedArgs& args, const Setup& setup)
        : broker(connect_broker(args, setup.deployment)), letters(broker, setup.options) {}
};

int run_list(const Invocation& inv) {
    const std::string format = inv.args.choice("format", {"table", "json"}, "table");
    const DeadLetterFilter filter = filter_of(inv.args);
    const std::size_t limit = limit_of(inv.args, static_cast<long long>(DeadLetters::kMaxListLimit), 50);
    const Setup setup(inv.args);
    check_arguments(setup.options, [&](const DeadLetters& d) { d.list(filter, 0, limit); });
    Session s(inv.args, setup);
    if (!known_channel(inv, *s.broker, s.letters, filter.channel, "list")) return kExitFailed;
    const DeadLetterPage page = s.letters.list(filter, 0, limit);
    if (format == "json") {
        nlohmann::ordered_json doc;
        doc["channel"] = s.letters.dead_letter_channel(filter.channel);
        doc["items"] = nlohmann::ordered_json::array();
        for (const auto& d : page.items) doc["items"].push_back(letter_json(d));
        doc["more"] = page.more;
        inv.out << dump(doc) << '\n';
        return kExitOk;
    }
    if (page.items.empty()) {
        inv.out << "no dead letters match\n";
        return kExitOk;
    }
    print_table(inv.out, {"id", "time", "reason", "class", "error type", "message"}, page.items.size(),
                [&](std::size_t i) -> std::vector<std::string> {
                    const DeadLetter& d = page.items[i];
                    return {one_line(d.id),
                            d.time.empty() ? "-" : one_line(d.time),
                            d.undecodable ? "undecodable" : one_line(d.reason),
                            one_line(d.error_class),
                            one_line(d.error_type, 40),
                            one_line(d.error_message, 60)};
                },
                {});
    if (page.more) inv.out << "(more match: raise --limit, or narrow the filter)\n";
    return kExitOk;
}

// Without --channel: the dead-letter (or parked) channel the broker says holds @p id.
std::string dead_letter_channel_of(AdapterInterface& broker, const std::string& id, const ChannelSuffixes& suffixes) {
    const MessageStatus status = broker.status(id);
    if (status.state == MessageState::not_found) {
        throw DeadLetterNotFoundError("no message with id " + shorten(id) + " (unknown id, or handled and forgotten)");
    }
    if (suffixes.kind(status.channel) == ChannelKind::channel) {
        throw DeadLetterNotFoundError("message " + shorten(id) + " is not a dead letter: it is " +
                                      std::string(to_string(status.state)) + " in " + shorten(status.channel));
    }
    return status.channel;
}

int run_show(const Invocation& inv) {
    const std::string format = inv.args.choice("format", {"text", "json"}, "text");
    const std::string& id = inv.args.positionals.at(0);
    const std::optional<std::string> given = inv.args.value("channel");
    if (given && given->empty()) throw UsageError("--channel expects a channel name, found \"\"");
    if (id.empty()) throw UsageError("ID is empty");
    const Setup setup(inv.args);
    Session s(inv.args, setup);
    const DeadLetter d =
        s.letters.show(given ? *given : dead_letter_channel_of(*s.broker, id, setup.deployment.suffixes), id);
    const nlohmann::json& metadata = d.message.metadata;
    if (format == "json") {
        nlohmann::ordered_json doc = letter_json(d);
        doc["channel"] = d.channel;
        doc["handler"] = d.message.handler;
        doc["data"] = d.message.data;
        doc["metadata"] = metadata;
        inv.out << dump(doc) << '\n';
        return kExitOk;
    }
    auto line = [&](const char* label, const std::string& value) {
        inv.out << label << std::string(18 - std::string(label).size(), ' ') << (value.empty() ? "-" : one_line(value, 2000))
                << '\n';
    };
    line("id", d.id);
    line("channel", d.channel);
    line("original channel", d.original_channel);
    line("handler", d.message.handler);
    line("reason", d.undecodable ? "undecodable bytes" : d.reason);
    line("error type", d.error_type);
    line("error class", d.error_class);
    line("error message", d.error_message);
    line("fingerprint", d.fingerprint);
    line("time", d.time);
    line("attempts", std::to_string(d.attempts));
    line("replays", std::to_string(d.replays));
    const auto record = metadata.is_object() ? metadata.find(std::string(metadata_keys::dead_letter)) : metadata.end();
    if (record != metadata.end() && record->is_object() && record->contains("history") && (*record)["history"].is_array()) {
        inv.out << "history:\n";
        for (const auto& entry : (*record)["history"]) {
            auto field = [&](const char* key) {
                if (!entry.is_object() || !entry.contains(key)) return std::string("-");
                return one_line(entry[key].is_string() ? entry[key].get<std::string>() : entry[key].dump(), 200);
            };
            inv.out << "  " << field("time") << "  " << field("channel") << "  " << field("middleware") << "  "
                    << field("action") << "  delay " << field("delay") << "  " << field("errorType") << ": "
                    << field("errorMessage") << '\n';
        }
    }
    inv.out << "data\n  " << dump(nlohmann::ordered_json(d.message.data)) << '\n';
    inv.out << "metadata\n" << nlohmann::ordered_json(metadata).dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
            << '\n';
    return kExitOk;
}

int run_groups(const Invocation& inv) {
    const std::string format = inv.args.choice("format", {"table", "json"}, "table");
    const DeadLetterFilter filter = filter_of(inv.args);
    const Setup setup(inv.args);
    check_arguments(setup.options, [&](const DeadLetters& d) { d.groups(filter); });
    Session s(inv.args, setup);
    if (!known_channel(inv, *s.broker, s.letters, filter.channel, "groups")) return kExitFailed;
    const auto groups = s.letters.groups(filter);
    if (format == "json") {
        nlohmann::ordered_json doc;
        doc["channel"] = s.letters.dead_letter_channel(filter.channel);
        doc["groups"] = nlohmann::ordered_json::array();
        for (const auto& g : groups) {
            nlohmann::ordered_json item;
            item["fingerprint"] = g.fingerprint;
            item["count"] = g.count;
            item["firstSeen"] = g.first_seen;
            item["lastSeen"] = g.last_seen;
            item["sampleId"] = g.sample_id;
            item["errorType"] = g.error_type;
            item["sampleMessage"] = g.sample_message;
            doc["groups"].push_back(std::move(item));
        }
        inv.out << dump(doc) << '\n';
        return kExitOk;
    }
    if (groups.empty()) {
        inv.out << "no dead letters match\n";
        return kExitOk;
    }
    print_table(inv.out, {"group", "count", "first seen", "last seen", "error type", "sample id", "sample message"},
                groups.size(),
                [&](std::size_t i) -> std::vector<std::string> {
                    const DeadLetterGroup& g = groups[i];
                    return {one_line(g.fingerprint),
                            std::to_string(g.count),
                            g.first_seen.empty() ? "-" : one_line(g.first_seen),
                            g.last_seen.empty() ? "-" : one_line(g.last_seen),
                            one_line(g.error_type, 40),
                            one_line(g.sample_id),
                            one_line(g.sample_message, 60)};
                },
                {1});
    return kExitOk;
}

// A broker failing half-way: one line with the cause and how far it got. Every message is in
// exactly one place (moves and removes are atomic per message), so running the command again finishes it.
template <class Run>
auto interruptible(ProgressLine& progress, const char* command, Run&& run) -> decltype(run()) {
    try {
        return run();
    } catch (const AdapterError& e) {
        progress.end_line();
        throw AdapterError(std::string(e.what()) + "; " + std::to_string(progress.done) + " of " +
                           std::to_string(progress.total) + " handled before the error, the rest untouched: run \"failpipe dlq " +
                           command + "\" again to finish (nothing is lost or duplicated)");
    }
}

double rate_of(const ParsedArgs& args) {
    const std::string text = *args.value("rate");
    double rate = 0.0;
    // from_chars, as for every other number of the tool: no leading space or '+', no hexadecimal.
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), rate);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(rate) || rate <= 0.0 ||
        rate > DeadLetters::kMaxRate)
        throw UsageError("--rate expects messages per second, a number above 0 and at most 1000000, found " + quote(text));
    return rate;
}

void print_skips(std::ostream& out, const std::vector<MoveSkip>& skipped) {
    for (std::size_t i = 0; i < skipped.size() && i < kShownIds; ++i)
        out << "skipped " << one_line(skipped[i].id) << ": " << to_string(skipped[i].reason)
            << (skipped[i].detail.empty() ? "" : " (" + one_line(skipped[i].detail, 200) + ")") << '\n';
    if (skipped.size() > kShownIds) out << "... and " << skipped.size() - kShownIds << " more skipped\n";
}

void print_refusals(std::ostream& out, const std::vector<ReplayRefusal>& refused) {
    for (std::size_t i = 0; i < refused.size() && i < kShownIds; ++i)
        out << "refused " << one_line(refused[i].id) << ": " << one_line(refused[i].reason, 400)
            << " (left in the dead letters; --to CHANNEL replays it there)\n";
    if (refused.size() > kShownIds) out << "... and " << refused.size() - kShownIds << " more refused\n";
}

// Named in the summary only when there are some: the line stays as scripts know it otherwise.
std::string refused_text(const ReplayResult& r, const char* word) {
    return r.refused.empty() ? std::string() : ", " + std::string(word) + " " + std::to_string(r.refused.size());
}

// A replay to a channel of another shard group goes through the outbox of the dead letters' group
// (ReplayResult::through_outbox, the adapter's rule): said at the end of the summary, since the
// messages reach their channel once a worker relays them (a dry run says it too: without a running
// relay they would not arrive). Empty otherwise.
std::string outbox_text(const ReplayResult& r) {
    if (!r.through_outbox) return {};
    const std::string group = quote(*r.through_outbox);
    if (r.dry_run) return "through the outbox of shard group " + group + ": the workers' relay would publish them; ";
    return " (on their way through the outbox of shard group " + group + ": the workers' relay publishes them)";
}

int run_replay(const Invocation& inv) {
    const DeadLetterFilter filter = filter_of(inv.args);
    ReplayOptions options;
    if (inv.args.has("to")) options.to = *inv.args.value("to");
    if (inv.args.has("limit")) options.limit = limit_of(inv.args, 1'000'000'000, 1);
    if (inv.args.has("rate")) options.rate = rate_of(inv.args);
    if (inv.args.has("max-replays"))
        options.max_replays = static_cast<std::size_t>(inv.args.integer("max-replays", 0, 1'000'000, 5));
    options.dry_run = inv.args.has("dry-run");
    options.keep_attempts = inv.args.has("keep-attempts");
    const Setup setup(inv.args);
    check_arguments(setup.options, [&](const DeadLetters& d) { d.replay(filter, options); });
    Session s(inv.args, setup);
    if (!known_channel(inv, *s.broker, s.letters, filter.channel, "replay")) return kExitFailed;
    ProgressLine progress{inv, "replayed"};
    if (!options.dry_run) options.progress = std::ref(progress);
    const ReplayResult r = interruptible(progress, "replay", [&] { return s.letters.replay(filter, options); });
    progress.end_line();
    print_skips(inv.out, r.skipped);
    print_refusals(inv.out, r.refused);
    const std::string from = s.letters.dead_letter_channel(filter.channel);
    const std::string to = options.to ? *options.to : std::string("their channels");
    if (r.dry_run) {
        inv.out << "dry run: would replay " << r.replayed.size() << " of " << from << " to " << to << ", park "
                << r.parked.size() << ", skip " << r.skipped.size() << refused_text(r, "refuse") << " ("
                << outbox_text(r) << "nothing changed)\n";
    } else {
        inv.out << "replayed " << r.replayed.size() << " of " << from << " to " << to << ", parked " << r.parked.size()
                << ", skipped " << r.skipped.size() << refused_text(r, "refused")
                << outbox_text(r) << '\n';
    }
    return kExitOk;
}

int run_purge(const Invocation& inv) {
    const DeadLetterFilter filter = filter_of(inv.args);
    PurgeOptions options;
    if (inv.args.has("older-than"))
        options.older_than = Seconds{parse_duration(*inv.args.value("older-than"), "--older-than")};
    if (inv.args.has("limit")) options.limit = limit_of(inv.args, 1'000'000'000, 1);
    options.dry_run = !inv.args.has("yes");
    const Setup setup(inv.args);
    check_arguments(setup.options, [&](const DeadLetters& d) { d.purge(filter, options); });
    Session s(inv.args, setup);
    if (!known_channel(inv, *s.broker, s.letters, filter.channel, "purge")) return kExitFailed;
    ProgressLine progress{inv, "deleted"};
    if (!options.dry_run) options.progress = std::ref(progress);
    const PurgeResult r = interruptible(progress, "purge", [&] { return s.letters.purge(filter, options); });
    progress.end_line();
    const std::string from = s.letters.dead_letter_channel(filter.channel);
    if (r.dry_run) {
        for (std::size_t i = 0; i < r.ids.size() && i < kShownIds; ++i) inv.out << "would delete " << one_line(r.ids[i]) << '\n';
        if (r.ids.size() > kShownIds) inv.out << "... and " << r.ids.size() - kShownIds << " more\n";
        inv.out << "would delete " << r.ids.size() << " of " << from << "; nothing deleted (add --yes to delete)\n";
    } else {
        inv.out << "deleted " << r.removed << " of " << from;
        if (r.removed < r.ids.size()) inv.out << " (" << r.ids.size() - r.removed << " left the channel meanwhile)";
        inv.out << '\n';
    }
    return kExitOk;
}

}  // namespace

Command dlq_list_command() {
    Command c;
    c.words = {"dlq", "list"};
    c.summary = "List the dead letters of a channel, with filters";
    c.description =
        "Lists the dead letters of C (read from C:dlq, or C + the deadLetterSuffix of --config), oldest\n"
        "first: id, time, reason, error class, type and message. Filters combine (all must match). The JSON\n"
        "form is described in docs/cli.md.";
    c.options = filter_options();
    c.options.push_back({"limit", "N", "at most N (1 to 10000, default 50)"});
    c.options.push_back({"format", "F", "table or json (default table)"});
    c.options = with_broker(std::move(c.options));
    c.examples = {"failpipe dlq list --channel orders --reason failure --since 2h",
                  "failpipe dlq list --channel orders --grep 'timeout after' --format json"};
    c.run = run_list;
    return c;
}

Command dlq_show_command() {
    Command c;
    c.words = {"dlq", "show"};
    c.summary = "Show one dead letter: its failure record, history, data and metadata";
    c.description = "Prints the dead letter ID of C (in C:dlq, or C + the deadLetterSuffix of --config; C:parked\n"
        "when named so); without --channel, the dead-letter or parked channel that holds ID. An unknown id is\n"
        "an error (exit 1).";
    c.positionals = {{"ID", "the message id"}};
    c.options = with_broker({{"channel", "C", "the channel whose dead letter it is (default: where the broker says it is)"},
                             {"format", "F", "text or json (default text)"}});
    c.examples = {"failpipe dlq show 5f2c0d1e9a7b4c3d0000000000000007",
                  "failpipe dlq show 5f2c0d1e9a7b4c3d0000000000000007 --channel orders"};
    c.run = run_show;
    return c;
}

Command dlq_groups_command() {
    Command c;
    c.words = {"dlq", "groups"};
    c.summary = "Group the dead letters of a channel by cause (fingerprint)";
    c.description =
        "Per fingerprint (error type + normalised message): how many, first and last seen, the error type,\n"
        "a sample id and message; largest group first. Reads the whole dead-letter channel.";
    c.options = filter_options();
    c.options.push_back({"format", "F", "table or json (default table)"});
    c.options = with_broker(std::move(c.options));
    c.examples = {"failpipe dlq groups --channel orders", "failpipe dlq groups --channel orders --format json"};
    c.run = run_groups;
    return c;
}

Command dlq_replay_command() {
    Command c;
    c.words = {"dlq", "replay"};
    c.summary = "Send dead letters back to their channel (or --to another), atomically per message";
    c.description =
        "Moves the matching dead letters of C back to the channel each failed on (or --to CHANNEL), with\n"
        "their failure counters cleared (unless --keep-attempts) and a replay count kept. One replayed more\n"
        "than --max-replays times goes to C:parked instead. The channel a dead letter names as its origin\n"
        "is written by whoever pushed it, so it is trusted only when it is C itself, a channel the broker\n"
        "lists or one --config names; any other is refused (left in the dead letters, counted) unless\n"
        "--to names the channel. A replay interrupted half-way loses and duplicates nothing: run it again\n"
        "to finish.";
    c.options = filter_options();
    c.options.push_back({"to", "CHANNEL", "replay into this channel (not a dead-letter or parked one)"});
    c.options.push_back({"limit", "N", "at most N messages"});
    c.options.push_back({"rate", "N", "at most N messages per second"});
    c.options.push_back({"max-replays", "N", "park a message already replayed N times (default 5)"});
    c.options.push_back({"dry-run", "", "change nothing; print what would happen"});
    c.options.push_back({"keep-attempts", "", "keep the failure counters and record"});
    c.options = with_broker(std::move(c.options));
    c.examples = {"failpipe dlq replay --channel orders --group 3f1c9a0b7d2e4f56 --rate 100",
                  "failpipe dlq replay --channel orders --reason failure --to orders-retry --dry-run"};
    c.run = run_replay;
    return c;
}

Command dlq_purge_command() {
    Command c;
    c.words = {"dlq", "purge"};
    c.summary = "Delete dead letters (only with --yes; without it, print what would go)";
    c.description =
        "Deletes the matching dead letters of C. Without --yes nothing is deleted: the ids that would go\n"
        "are printed. --older-than keeps dead letters recorded more recently (and those without a time).";
    c.options = filter_options();
    c.options.push_back({"older-than", "DURATION", "only dead letters recorded more than DURATION ago"});
    c.options.push_back({"limit", "N", "at most N messages"});
    c.options.push_back({"yes", "", "really delete"});
    c.options = with_broker(std::move(c.options));
    c.examples = {"failpipe dlq purge --channel orders --older-than 7d", "failpipe dlq purge --channel orders --reason poison --yes"};
    c.run = run_purge;
    return c;
}

}  // namespace failpipe::cli
