#include "args.hpp"

#include <algorithm>
#include <charconv>

#include "failpipe/middleware_registry.hpp"

namespace failpipe::cli {
namespace {

const OptionSpec* find_option(const std::vector<OptionSpec>& options, std::string_view name) {
    auto it = std::find_if(options.begin(), options.end(), [&](const OptionSpec& o) { return o.name == name; });
    return it == options.end() ? nullptr : &*it;
}

std::string unknown_option(std::string_view word, const std::vector<OptionSpec>& options) {
    std::vector<std::string> names{"help"};
    for (const auto& o : options) names.push_back(o.name);
    std::string name(word.substr(word.starts_with("--") ? 2 : 1));
    if (auto eq = name.find('='); eq != std::string::npos) name.resize(eq);
    std::string message = "unknown option " + quote(word.substr(0, word.find('=')));
    if (auto near = nearest_word(name, names)) message += "; did you mean " + quote("--" + *near) + "?";
    return message;
}

}  // namespace

std::string shorten(std::string_view text) {
    if (text.size() <= kMaxEchoedBytes) return std::string(text);
    std::size_t cut = kMaxEchoedBytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    return std::string(text.substr(0, cut)) + "\u2026";
}

std::string quote(std::string_view text) { return "\"" + shorten(text) + "\""; }

std::optional<std::string> ParsedArgs::value(std::string_view name) const {
    auto it = options.find(name);
    if (it == options.end()) return std::nullopt;
    return it->second;
}

long long ParsedArgs::integer(std::string_view name, long long min, long long max, long long fallback) const {
    auto text = value(name);
    if (!text) return fallback;
    long long result = 0;
    const char* begin = text->data();
    const char* end = begin + text->size();
    auto [ptr, ec] = std::from_chars(begin, end, result);
    if (text->empty() || ec != std::errc{} || ptr != end || result < min || result > max)
        throw UsageError("--" + std::string(name) + " expects an integer from " + std::to_string(min) + " to " +
                         std::to_string(max) + ", found " + quote(*text));
    return result;
}

std::string ParsedArgs::choice(std::string_view name, const std::vector<std::string>& choices,
                               std::string fallback) const {
    auto text = value(name);
    if (!text) return fallback;
    if (std::find(choices.begin(), choices.end(), *text) != choices.end()) return *text;
    std::string expected;
    for (std::size_t i = 0; i < choices.size(); ++i) {
        if (i > 0) expected += (i + 1 == choices.size()) ? " or " : ", ";
        expected += quote(choices[i]);
    }
    std::string message = "--" + std::string(name) + " expects " + expected + ", found " + quote(*text);
    if (auto near = nearest_word(*text, choices)) message += "; did you mean " + quote(*near) + "?";
    throw UsageError(message);
}

ParsedArgs parse_args(const std::vector<std::string>& args, const std::vector<OptionSpec>& options,
                      const std::vector<PositionalSpec>& positionals) {
    ParsedArgs parsed;
    // --help wins over everything else on the line, so a half-written command can still ask for help.
    for (const auto& a : args) {
        if (a == "--") break;
        if (a == "--help" || a == "-h") {
            parsed.help = true;
            return parsed;
        }
    }

    bool options_done = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& word = args[i];
        if (options_done || word == "-" || !word.starts_with("-")) {
            parsed.positionals.push_back(word);
            continue;
        }
        if (word == "--") {
            options_done = true;
            continue;
        }
        if (!word.starts_with("--")) throw UsageError(unknown_option(word, options));

        std::string name = word.substr(2);
        std::optional<std::string> inline_value;
        if (auto eq = name.find('='); eq != std::string::npos) {
            inline_value = name.substr(eq + 1);
            name.resize(eq);
        }
        // `--help=1`: help is a flag, found by the first pass only when written alone.
        if (name == "help" && inline_value) throw UsageError("option \"--help\" takes no value");
        const OptionSpec* spec = find_option(options, name);
        if (!spec) throw UsageError(unknown_option(word, options));
        if (parsed.has(name)) throw UsageError("option " + quote("--" + name) + " given more than once");

        if (spec->value_name.empty()) {
            if (inline_value) throw UsageError("option " + quote("--" + name) + " takes no value");
            parsed.options.emplace(name, std::string{});
            continue;
        }
        if (inline_value) {
            parsed.options.emplace(name, *inline_value);
            continue;
        }
        if (i + 1 >= args.size() || args[i + 1].starts_with("--"))
            throw UsageError("option " + quote("--" + name) + " needs a value (" + spec->value_name + ")");
        parsed.options.emplace(name, args[++i]);
    }

    for (const auto& spec : options) {
        if (spec.required && !parsed.has(spec.name))
            throw UsageError("missing required option " + quote("--" + spec.name + " " + spec.value_name));
    }
    if (parsed.positionals.size() < positionals.size())
        throw UsageError("missing argument " + positionals[parsed.positionals.size()].name);
    if (parsed.positionals.size() > positionals.size())
        throw UsageError("unexpected argument " + quote(parsed.positionals[positionals.size()]));
    return parsed;
}

}  // namespace failpipe::cli
