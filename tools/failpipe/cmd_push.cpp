// `failpipe push`: one message from the command line, or many from a file of JSON lines.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "broker.hpp"
#include "command.hpp"
#include "duration.hpp"
#include "failpipe/middleware_registry.hpp"

namespace failpipe::cli {
namespace {

// A file of messages is read whole and checked before anything is pushed; this bounds the memory.
constexpr std::uintmax_t kMaxFileBytes = 256u * 1024 * 1024;
// push_batch is called per chunk so a terminal can show progress between them.
constexpr std::size_t kChunk = 1000;
// Below this many messages a progress line would only flicker.
constexpr std::size_t kProgressFrom = 2 * kChunk;

const std::vector<std::string> kLineKeys{"type", "data", "id", "delay"};

// nlohmann's `[json.exception.parse_error.101] parse error at line 1, column 5: syntax error while
// parsing value - ...` from @p from ("line " or "column "): a line of --file has its own line number.
std::string syntax_error(const nlohmann::json::parse_error& e, std::string_view from) {
    const std::string what = e.what();
    const auto at = what.find(from);
    return "JSON syntax error at " + shorten(at == std::string::npos ? what : what.substr(at));
}

nlohmann::json parse_data(const std::string& text) {
    try {
        return nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw UsageError("--data is not JSON: " + syntax_error(e, "line "));
    }
}

struct Defaults {
    std::optional<std::string> type;
    double delay = 0;
};

// One line of a --file: {"type": T, "data": any, "id": ID, "delay": seconds or "90s"}.
OutgoingMessage parse_line(const std::string& channel, const std::string& text, const Defaults& defaults) {
    nlohmann::json line;
    try {
        line = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
        throw UsageError(syntax_error(e, "column "));
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
    }
    if (line.contains("delay")) {
        const auto& d = line["delay"];
        if (d.is_string()) {
            out.delay = Seconds{parse_duration(d.get<std::string>(), "delay")};
        } else if (d.is_number()) {
            out.delay = Seconds{parse_duration(d.dump(), "delay")};
        } else {
            throw UsageError("\"delay\" expects seconds or a duration such as \"90s\"");
        }
    }
    return out;
}

std::vector<OutgoingMessage> read_messages(const std::string& file, const std::string& channel,
                                           const Defaults& defaults) {
    require_file(file);
    std::error_code ec;
    if (const auto size = std::filesystem::file_size(file, ec); !ec && size > kMaxFileBytes)
        throw UsageError(quote(file) + " is " + std::to_string(size) + " bytes, more than the limit of " +
                         std::to_string(kMaxFileBytes));
    std::ifstream in(file, std::ios::binary);
    if (!in) throw UsageError("cannot read " + quote(file));
    std::vector<OutgoingMessage> messages;
    std::string text;
    for (std::size_t number = 1; std::getline(in, text); ++number) {
        if (!text.empty() && text.back() == '\r') text.pop_back();
        if (text.find_first_not_of(" \t") == std::string::npos) continue;  // blank lines are allowed
        try {
            messages.push_back(parse_line(channel, text, defaults));
        } catch (const UsageError& e) {
            throw UsageError(shorten(file) + ":" + std::to_string(number) + ": " + e.what() + " (nothing pushed)");
        }
    }
    if (in.bad()) throw UsageError("cannot read " + quote(file));
    return messages;
}

int push_file(const Invocation& inv, RedisAdapter& broker, const std::string& file,
              std::vector<OutgoingMessage> messages) {
    const std::string& channel = messages.empty() ? std::string{} : messages.front().channel;
    const std::size_t total = messages.size();
    const bool progress = total >= kProgressFrom && ::isatty(STDERR_FILENO) == 1;
    std::size_t pushed = 0;
    try {
        while (pushed < total) {
            const std::size_t n = std::min(kChunk, total - pushed);
            std::vector<OutgoingMessage> chunk(std::make_move_iterator(messages.begin() + static_cast<std::ptrdiff_t>(pushed)),
                                               std::make_move_iterator(messages.begin() + static_cast<std::ptrdiff_t>(pushed + n)));
            broker.push_batch(std::move(chunk));
            pushed += n;
            if (progress) inv.err << "\rpushed " << pushed << " of " << total << std::flush;
        }
    } catch (const std::exception& e) {
        if (progress) inv.err << '\n';
        // Chunks are atomic, so the count is exact up to the failing chunk, which may or may not be in.
        inv.err << "failpipe push: " << e.what() << "; " << pushed << " of " << total
                << " messages were pushed before the error (the next " << std::min(kChunk, total - pushed)
                << " may or may not be)\n";
        return kExitFailed;
    }
    if (progress) inv.err << '\n';
    inv.out << "pushed " << total << (total == 1 ? " message" : " messages") << " to " << shorten(channel)
            << " from " << shorten(file) << '\n';
    return kExitOk;
}

int run_push(const Invocation& inv) {
    const ParsedArgs& args = inv.args;
    const std::string channel = *args.value("channel");
    if (channel.empty()) throw UsageError("--channel expects a channel name, found \"\"");
    Defaults defaults;
    defaults.type = args.value("type");
    if (defaults.type && defaults.type->empty()) throw UsageError("--type expects a message type, found \"\"");
    if (auto delay = args.value("delay")) defaults.delay = parse_duration(*delay, "delay");

    if (auto file = args.value("file")) {
        for (const char* alone : {"data", "id"})
            if (args.has(alone)) throw UsageError("--" + std::string(alone) + " cannot be used with --file");
        auto messages = read_messages(*file, channel, defaults);
        for (auto& m : messages) m.channel = channel;
        auto broker = connect_broker(args);
        return push_file(inv, *broker, *file, std::move(messages));
    }
    if (!defaults.type) throw UsageError("missing required option \"--type T\" (or --file F)");
    const auto data = args.value("data");
    if (!data) throw UsageError("missing required option \"--data JSON\" (or --file F)");
    Message message = Message::create(*defaults.type, parse_data(*data));
    if (auto id = args.value("id")) {
        if (id->empty()) throw UsageError("--id expects a message id, found \"\"");
        message.id = *id;
    }
    auto broker = connect_broker(args);
    inv.out << broker->push(channel, std::move(message), Seconds{defaults.delay}) << '\n';
    return kExitOk;
}

}  // namespace

Command push_command() {
    Command c;
    c.words = {"push"};
    c.summary = "Push a message, or one message per line of a file";
    c.description =
        "Pushes one message of type T with payload JSON to channel C and prints its id, or, with\n"
        "--file F, one message per line of F: {\"type\": T, \"data\": ..., \"id\": ID, \"delay\": \"90s\"}\n"
        "(only \"type\" is needed, and not even that with --type; --type and --delay are defaults for\n"
        "every line). Every line is checked before anything is pushed: a bad line is an error (exit 2)\n"
        "naming its number. Durations: 90s, 15m, 2h, 7d or plain seconds. See docs/cli.md.";
    c.options = {{"channel", "C", "the channel to push to", true},
                 {"type", "T", "the message type (its handler)"},
                 {"data", "JSON", "the payload, a JSON document"},
                 {"delay", "S", "due after this long (90s, 15m, 2h, 7d, seconds; default 0)"},
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
