#include "args.hpp"

#include <algorithm>
#include <charconv>

#include <CLI/CLI.hpp>

#include "failpipe/middleware_registry.hpp"
#include "format.hpp"

namespace failpipe::cli {
namespace {

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

std::string shorten(std::string_view text) { return one_line(text, kMaxEchoedBytes); }

std::string quote(std::string_view text) { return "\"" + shorten(text) + "\""; }

std::string one_of(const std::vector<std::string>& words) {
    std::string out;
    for (std::size_t i = 0; i < words.size(); ++i) out += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + quote(words[i]);
    return out;
}

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
    std::string message = "--" + std::string(name) + " expects " + one_of(choices) + ", found " + quote(*text);
    if (auto near = nearest_word(*text, choices)) message += "; did you mean " + quote(*near) + "?";
    throw UsageError(message);
}

namespace {

bool asks_help(const std::vector<std::string>& args) {
    for (const auto& a : args) {
        if (a == "--") return false;
        if (a == "--help" || a == "-h") return true;
    }
    return false;
}

// A flag's default value that nobody types: CLI11 then refuses `--flag=anything` (FlagOverride),
// which is reported as "takes no value".
constexpr const char* kFlagDefault = "{\x1f}";

// The spec of the option CLI11 names at the start of @p what (`--config: ...`, `dry-run was ...`).
const OptionSpec* named_in(std::string_view what, const std::vector<OptionSpec>& options) {
    for (const auto& o : options) {
        for (const std::string& name : {"--" + o.name, o.name}) {
            if (what.starts_with(name) && what.size() > name.size() &&
                (what[name.size()] == ':' || what[name.size()] == ' '))
                return &o;
        }
    }
    return nullptr;
}

// CLI11's own texts say the same things in other words; the tool's words are pinned by tests/cli.
[[noreturn]] void translate(const CLI::ParseError& e, const std::vector<OptionSpec>& options) {
    const std::string what = e.what();
    if (what.starts_with("help ") && what.find("flag override") != std::string::npos)
        throw UsageError("option \"--help\" takes no value");
    const OptionSpec* spec = named_in(what, options);
    if (spec && what.find("flag override") != std::string::npos)
        throw UsageError("option " + quote("--" + spec->name) + " takes no value");
    if (spec && what.find("required") != std::string::npos && what.find("missing") != std::string::npos)
        throw UsageError("option " + quote("--" + spec->name) + " needs a value (" + spec->value_name + ")");
    throw UsageError(shorten(what));
}

}  // namespace

ParsedArgs parse_args(const std::vector<std::string>& args, const std::vector<OptionSpec>& options,
                      const std::vector<PositionalSpec>& positionals) {
    ParsedArgs parsed;
    // --help wins over everything else on the line, so a half-written command can still ask for help.
    if (asks_help(args)) {
        parsed.help = true;
        return parsed;
    }

    CLI::App app;
    app.set_help_flag();  // the tool prints its own help (main.cpp)
    app.allow_extras();   // unknown options and positionals are sorted out below, in order
    app.add_flag("--help" + std::string(kFlagDefault))->disable_flag_override();
    std::map<std::string, std::vector<std::string>, std::less<>> values;
    for (const auto& o : options) {
        if (o.value_name.empty()) {
            app.add_flag("--" + o.name + kFlagDefault)->disable_flag_override();
            continue;
        }
        app.add_option("--" + o.name, values[o.name])
            ->type_name(o.value_name)
            ->expected(1)
            ->allow_extra_args(false)
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    }
    // CLI11 wants argv in reverse order (it pops from the back).
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    try {
        app.parse(reversed);
    } catch (const CLI::ParseError& e) {
        translate(e, options);
    }

    // CLI11 reads `--flag=` (an empty value) as the flag itself; the tool refuses any value.
    for (const auto& word : args) {
        if (word == "--") break;
        if (word == "--help=") throw UsageError("option \"--help\" takes no value");
        for (const auto& o : options)
            if (o.value_name.empty() && word == "--" + o.name + "=")
                throw UsageError("option " + quote("--" + o.name) + " takes no value");
    }

    bool options_done = false;
    for (const auto& word : app.remaining()) {
        if (!options_done && word == "--") {
            options_done = true;
            continue;
        }
        if (!options_done && word.size() > 1 && word.starts_with("-")) throw UsageError(unknown_option(word, options));
        parsed.positionals.push_back(word);
    }
    for (const auto& o : options) {
        if (o.value_name.empty()) {
            if (app.count("--" + o.name) > 1) throw UsageError("option " + quote("--" + o.name) + " given more than once");
            if (app.count("--" + o.name) == 1) parsed.options.emplace(o.name, std::string{});
            continue;
        }
        const auto& given = values[o.name];
        if (given.empty()) continue;
        if (given.size() > 1) throw UsageError("option " + quote("--" + o.name) + " given more than once");
        // CLI11 takes `--config --channel` as the value "--channel"; an option is never a value here
        // (but `--config=--odd-name` says what it means).
        if (given.front().starts_with("--") &&
            std::find(args.begin(), args.end(), "--" + o.name + "=" + given.front()) == args.end())
            throw UsageError("option " + quote("--" + o.name) + " needs a value (" + o.value_name + ")");
        parsed.options.emplace(o.name, given.front());
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
