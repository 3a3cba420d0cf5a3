// `failpipe push`: one message from the command line, or many from a file of JSON lines.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <utility>
#include <ostream>
#include <string>
#include <vector>

#include "broker.hpp"
#include "command.hpp"
#include "duration.hpp"
#include "failpipe/error.hpp"
#include "failpipe/expiry.hpp"
#include "failpipe/message.hpp"
#include "failpipe/middleware_registry.hpp"
#include "format.hpp"

namespace failpipe::cli {
namespace {

// A file of messages is read whole and checked before anything is pushed; this bounds the memory.
constexpr std::uintmax_t kMaxFileBytes = 256u * 1024 * 1024;  // docs/cli.md
// push_batch is called per chunk so a terminal can show progress between them.
constexpr std::size_t kChunk = 1000;
// Below this many messages a progress line would only flicker.
constexpr std::size_t kProgressFrom = 2 * kChunk;

// Arrays and objects nested deeper are refused: copying and serialising a message recurse once
// per level, and a line of 100,000 brackets would crash the tool (docs/cli.md).
constexpr std::size_t kMaxNesting = 128;

const std::vector<std::string> kLineKeys{"type", "data", "id", "delay", "ttl"};

// Throws UsageError when @p text nests arrays and objects deeper than kMaxNesting. A linear scan
// of the text, before nlohmann builds anything.
void check_nesting(std::string_view text) {
    std::size_t depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > kMaxNesting)
                throw UsageError("arrays and objects nested more than " + std::to_string(kMaxNesting) +
                                 " deep (at byte " + std::to_string(i + 1) + ")");
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
}

// nlohmann's `[json.exception.parse_error.101] parse error at line 1, column 5: syntax error while
// parsing value - ...` from @p from ("line " or "column "): a line of --file has its own line number.
std::string syntax_error(const nlohmann::json::parse_error& e, std::string_view from) {
    const std::string what = e.what();
    const auto at = what.find(from);
    return "JSON syntax error at " + shorten(at == std::string::npos ? what : what.substr(at));
}

// nlohmann's `[json.exception.out_of_range.406] number overflow parsing '1e999'`: valid JSON, but a
// number no double holds (it would be infinity in the message).
std::string number_overflow(const nlohmann::json::out_of_range& e) {
    const std::string what = e.what();
    const auto at = what.find("] ");
    return shorten(at == std::string::npos ? what : what.substr(at + 2)) + ": a JSON number must fit in a double";
}

nlohmann::json parse_data(const std::string& text) {
    try {
        check_nesting(text);
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw UsageError("--data is not JSON: " + syntax_error(e, "line "));
    } catch (const nlohmann::json::out_of_range& e) {
        throw UsageError("--data: " + number_overflow(e));
    } catch (const UsageError& e) {
        throw UsageError(std::string("--data: ") + e.what());
    }
}

struct Defaults {
    std::optional<std::string> type;
    double delay = 0;
    std::optional<double> ttl;
    std::size_t max_bytes = 0;  // the config's maxMessageBytes (0: no limit)
};

// Throws UsageError, naming the message's id, its encoded size and the limit (the core's
// oversize_reason), when @p message is larger than @p limit bytes (0: no limit). @p message has its
// id already: the adapter encodes it with one.
void check_message_fits(const Message& message, std::size_t limit) {
    if (limit == 0) return;
    const std::string reason = oversize_reason(encode_message(message).size(), limit);
    if (!reason.empty())
        throw UsageError("message " + quote(message.id) + " is " + reason + " (its encoded size; the limit of --config)");
}

// The expiry is counted from now: the message is pushed right after its line is read.
void apply_ttl(Message& message, std::optional<double> ttl) {
    if (ttl) set_time_to_live(message, std::chrono::system_clock::now(), Seconds{*ttl});
}

// One line of a --file: {"type": T, "data": any, "id": ID, "delay": seconds or "90s"}.
OutgoingMessage parse_line(const std::string& channel, const std::string& text, const Defaults& defaults) {
    check_nesting(text);
    nlohmann::json line;
    try {
        line = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw UsageError(syntax_error(e, "column "));
    } catch (const nlohmann::json::out_of_range& e) {
        throw UsageError(number_overflow(e));
    }
    if (!line.is_object()) throw UsageError("expected a JSON object {\"type\": ..., \"data\": ...}");
    for (const auto& [key, value] : line.items()) {
        if (std::find(kLineKeys.begin(), kLineKeys.end(), key) != kLineKeys.end()) continue;
        std::string message = "unknown key " + quote(key);
        if (auto near = nearest_word(key, kLineKeys)) message += "; did you mean " + quote(*near) + "?";
        throw UsageError(message);
    }
    std::string type = defaults.type.value_or("");
    if (line.contains("type")) {
        if (!line["type"].is_string()) throw UsageError("\"type\" expects a string");
        type = line["type"].get<std::string>();
    }
    if (type.empty()) throw UsageError("\"type\" is missing or empty (or give --type for every line)");
    OutgoingMessage out{channel, Message::create(type, line.value("data", nlohmann::json(nullptr))),
                        Seconds{defaults.delay}};
    if (line.contains("id")) {
        if (!line["id"].is_string() || line["id"].get<std::string>().empty())
            throw UsageError("\"id\" expects a non-empty string");
        out.message.id = line["id"].get<std::string>();
    } else {
        out.message.id = generate_message_id();  // now, so the size checked is the size pushed
    }
    std::optional<double> ttl = defaults.ttl;
    if (line.contains("ttl")) {
        const auto& t = line["ttl"];
        if (!t.is_string() && !t.is_number()) throw UsageError("\"ttl\" expects seconds or a duration such as \"1h\"");
        ttl = parse_ttl(t.is_string() ? t.get<std::string>() : t.dump(), "\"ttl\"");
    }
    apply_ttl(out.message, ttl);
    if (line.contains("delay")) {
        const auto& d = line["delay"];
        if (d.is_string()) {
            out.delay = Seconds{parse_duration(d.get<std::string>(), "\"delay\"")};
        } else if (d.is_number()) {
            out.delay = Seconds{parse_duration(d.dump(), "\"delay\"")};
        } else {
            throw UsageError("\"delay\" expects seconds or a duration such as \"90s\"");
        }
    }
    check_message_fits(out.message, defaults.max_bytes);
    return out;
}

// The bytes of a --file, after the same checks as a config file (a FIFO or a device is refused).
std::string read_file(const std::string& file) {
    require_file(file);
    std::error_code ec;
    if (const auto size = std::filesystem::file_size(file, ec); !ec && size > kMaxFileBytes)
        throw UsageError(quote(file) + " is " + std::to_string(size) + " bytes, more than the limit of " +
                         std::to_string(kMaxFileBytes) + " (split it)");
    std::ifstream in(file, std::ios::binary);
    std::string bytes;
    if (in) bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in && !in.eof()) throw UsageError("cannot read " + quote(file));
    if (bytes.size() > kMaxFileBytes) throw UsageError(quote(file) + " grew beyond the limit while it was read");
    return bytes;
}

// Calls @p each(number, message) for every non-blank line of @p bytes, numbered from 1.
template <class Each>
void for_each_message(const std::string& file, const std::string& bytes, const std::string& channel,
                      const Defaults& defaults, Each&& each) {
    std::size_t number = 0;
    for (std::size_t begin = 0; begin < bytes.size();) {
        ++number;
        std::size_t end = bytes.find('\n', begin);
        if (end == std::string::npos) end = bytes.size();
        std::string_view text(bytes.data() + begin, end - begin);
        begin = end + 1;
        if (text.ends_with('\r')) text.remove_suffix(1);
        if (text.find_first_not_of(" \t") == std::string_view::npos) continue;  // blank lines are allowed
        try {
            each(parse_line(channel, std::string(text), defaults));
        } catch (const UsageError& e) {
            throw UsageError(shorten(file) + ":" + std::to_string(number) + ": " + e.what() + " (nothing pushed)");
        }
    }
}

// Every line is checked before the first push (a bad line 90,000 must not leave 89,999 pushed);
// the messages are then parsed again chunk by chunk, so memory holds the file's bytes and one chunk.
int push_file(const Invocation& inv, const std::string& file, const std::string& channel, const Defaults& defaults,
              const Deployment& deployment) {
    const std::string bytes = read_file(file);
    std::size_t total = 0;
    for_each_message(file, bytes, channel, defaults, [&](OutgoingMessage&&) { ++total; });
    auto broker = connect_broker(inv.args, deployment);

    const bool progress = total >= kProgressFrom && ::isatty(STDERR_FILENO) == 1;
    std::size_t pushed = 0;
    std::size_t in_flight = 0;
    std::vector<OutgoingMessage> chunk;
    auto flush = [&] {
        in_flight = chunk.size();
        broker->push_batch(std::exchange(chunk, {}));
        pushed += std::exchange(in_flight, 0);
        if (progress) inv.err << "\rpushed " << pushed << " of " << total << std::flush;
    };
    try {
        for_each_message(file, bytes, channel, defaults, [&](OutgoingMessage&& m) {
            chunk.push_back(std::move(m));
            if (chunk.size() == kChunk) flush();
        });
        if (!chunk.empty()) flush();
    } catch (const DurabilityError& e) {
        if (progress) inv.err << '\n';
        // push_batch waits for the replicas after the whole chunk is stored: all of it is in.
        inv.err << "failpipe push: " << pushed + e.stored_ids().size() << " of " << total
                << " messages are stored; the last " << e.stored_ids().size() << " (messages " << pushed + 1 << " to "
                << pushed + e.stored_ids().size() << " of the file) ARE stored in " << shorten(channel) << " but "
                << unconfirmed_push(*broker, true) << "\n";
        return kExitUnconfirmed;
    } catch (const std::exception& e) {
        if (progress) inv.err << '\n';
        // push_batch is atomic per script call, not per chunk: part of the failing chunk may be in.
        inv.err << "failpipe push: " << e.what() << "; " << pushed << " of " << total
                << " messages were pushed before the error, and up to " << in_flight
                << " more may have been (messages " << pushed + 1 << " to " << pushed + in_flight << " of the file)\n";
        return kExitFailed;
    }
    if (progress) inv.err << '\n';
    inv.out << "pushed " << total << (total == 1 ? " message" : " messages") << " to " << shorten(channel)
            << " from " << shorten(file) << '\n';
    return kExitOk;
}

// The one message of --data, pushed; a push the replicas did not confirm still prints its id.
int push_one(const Invocation& inv, RedisAdapter& broker, const std::string& channel, Message message, double delay) {
    const std::string id = message.id;
    try {
        inv.out << broker.push(channel, std::move(message), Seconds{delay}) << '\n';
        return kExitOk;
    } catch (const DurabilityError& e) {
        const std::string& stored = e.stored_ids().empty() ? id : e.stored_ids().front();
        inv.out << stored << '\n';
        inv.err << "failpipe push: message " << shorten(stored) << " IS stored in " << shorten(channel) << " but "
                << unconfirmed_push(broker, false) << '\n';
        return kExitUnconfirmed;
    }
}

// The message of --type, --data, --id and --ttl, with its id (a new one unless --id gives it).
Message message_of_options(const ParsedArgs& args, const Defaults& defaults) {
    if (!defaults.type) throw UsageError("missing required option \"--type T\" (or --file F)");
    const auto data = args.value("data");
    if (!data) throw UsageError("missing required option \"--data JSON\" (or --file F)");
    Message message = Message::create(*defaults.type, parse_data(*data));
    if (auto id = args.value("id")) {
        if (id->empty()) throw UsageError("--id expects a message id, found \"\"");
        message.id = *id;
    } else {
        message.id = generate_message_id();  // now, so the size checked is the size pushed
    }
    apply_ttl(message, defaults.ttl);
    return message;
}

int run_push(const Invocation& inv) {
    const ParsedArgs& args = inv.args;
    const std::string channel = *args.value("channel");
    if (channel.empty()) throw UsageError("--channel expects a channel name, found \"\"");
    Defaults defaults;
    defaults.type = args.value("type");
    if (defaults.type && defaults.type->empty()) throw UsageError("--type expects a message type, found \"\"");
    if (auto delay = args.value("delay")) defaults.delay = parse_duration(*delay, "--delay");
    if (auto ttl = args.value("ttl")) defaults.ttl = parse_ttl(*ttl, "--ttl");

    if (auto file = args.value("file")) {
        for (const char* alone : {"data", "id"})
            if (args.has(alone)) throw UsageError("--" + std::string(alone) + " cannot be used with --file");
        const Deployment deployment = deployment_of(args);
        defaults.max_bytes = deployment.max_message_bytes();
        return push_file(inv, *file, channel, defaults, deployment);
    }
    Message message = message_of_options(args, defaults);
    const Deployment deployment = deployment_of(args);
    try {
        check_message_fits(message, deployment.max_message_bytes());
    } catch (const UsageError& e) {
        throw UsageError(std::string(e.what()) + " (nothing pushed)");
    }
    auto broker = connect_broker(args, deployment);
    return push_one(inv, *broker, channel, std::move(message), defaults.delay);
}

}  // namespace

Command push_command() {
    Command c;
    c.words = {"push"};
    c.summary = "Push a message, or one message per line of a file";
    c.description =
        "Pushes one message of type T with payload JSON to channel C and prints its id, or, with\n"
        "--file F, one message per line of F: {\"type\": T, \"data\": ..., \"id\": ID, \"delay\": \"90s\"}\n"
        "(only \"type\" is needed, and not even that with --type; --type, --delay and --ttl are defaults for\n"
        "every line). Every line is checked before anything is pushed: a bad line is an error (exit 2)\n"
        "naming its number. Durations: 90s, 15m, 2h, 7d or plain seconds. A message larger than the\n"
        "maxMessageBytes of --config is refused (exit 2), nothing pushed. With ?durability=replicas in the\n"
        "URL, a push the replicas did not confirm prints its id and exits 3: it IS stored, and pushing\n"
        "it again stores a second copy. See docs/cli.md.";
    c.options = {{"channel", "C", "the channel to push to", true},
                 {"type", "T", "the message type (its handler)"},
                 {"data", "JSON", "the payload, a JSON document"},
                 {"delay", "D", "due after this long: a duration, seconds (90, 1.5) or a number and one unit s, m, h or d "
                                "(90s, 15m, 2h, 7d); default 0"},
                 {"ttl", "S", "time to live: not handled by then, it is expired (dead-lettered or dropped), never handled"},
                 {"id", "ID", "the message id (default: a new one)"},
                 {"file", "F", "push one message per line of F (JSON lines)"}};
    for (auto& o : broker_options()) c.options.push_back(std::move(o));
    c.examples = {"failpipe push --channel orders --type order.created --data '{\"order\": 42}'",
                  "failpipe push --channel orders --type order.created --data '{\"order\": 42}' --delay 15m",
                  "failpipe push --channel orders --file replay.jsonl"};
    c.run = run_push;
    return c;
}

}  // namespace failpipe::cli
