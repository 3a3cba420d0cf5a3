// Fuzz target: the `failpipe` command line's argument parser (tools/failpipe/args.cpp) against the
// real commands' declarations (config check, explain), without running the commands.
//
// The input is the argument vector, one word per line. When it starts with a command's words they
// select that command; otherwise the input's length picks one and every word goes to its parser.
// Properties: parsing any words either succeeds or throws UsageError with a message (never another
// exception, never a crash); a success holds only declared options, no more positionals than
// declared, and every required option; reading values as the commands do (integer, choice) also
// fails only with UsageError.
//
// main.cpp's dispatch (`run`: help, groups, unknown commands) sits in an anonymous namespace with
// the commands that read files, so it is not fuzzed here.
#include <string>
#include <vector>

#include "../fuzz_support.hpp"
#include "args.hpp"
#include "command.hpp"

namespace {

using namespace failpipe::cli;

std::vector<std::string> split_lines(std::string_view text) {
    std::vector<std::string> words;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t end = std::min(text.find('\n', start), text.size());
        words.emplace_back(text.substr(start, end - start));
        start = end + 1;
    }
    if (!words.empty() && words.back().empty()) words.pop_back();  // a final newline ends the last word
    return words;
}

void check_parsed(const ParsedArgs& parsed, const Command& command) {
    if (parsed.help) return;
    for (const auto& [name, value] : parsed.options) {
        bool declared = false;
        for (const auto& spec : command.options) declared = declared || spec.name == name;
        failpipe::fuzz::check(declared, "only declared options are accepted", name);
    }
    for (const auto& spec : command.options)
        failpipe::fuzz::check(!spec.required || parsed.has(spec.name), "required options are present", spec.name);
    failpipe::fuzz::check(parsed.positionals.size() == command.positionals.size(),
                          "exactly the declared positionals are accepted");
}

// The value readers the commands use, on every option given.
void read_values(const ParsedArgs& parsed) {
    for (const auto& [name, value] : parsed.options) {
        try {
            (void)parsed.integer(name, 1, 1000000, 1000);
        } catch (const UsageError& e) {
            failpipe::fuzz::check(std::string_view(e.what()).size() > 0, "a usage error says why");
        }
        try {
            (void)parsed.choice(name, {"transient", "permanent", "unknown"}, "unknown");
        } catch (const UsageError& e) {
            failpipe::fuzz::check(std::string_view(e.what()).size() > 0, "a usage error says why");
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const std::vector<Command> commands{config_check_command(), explain_command()};
    std::vector<std::string> words = split_lines(failpipe::fuzz::as_text(data, size));

    const Command* command = &commands[size % commands.size()];
    for (const auto& c : commands) {
        if (words.size() >= c.words.size() && std::equal(c.words.begin(), c.words.end(), words.begin())) {
            command = &c;
            words.erase(words.begin(), words.begin() + static_cast<std::ptrdiff_t>(c.words.size()));
            break;
        }
    }
    try {
        const ParsedArgs parsed = parse_args(words, command->options, command->positionals);
        check_parsed(parsed, *command);
        read_values(parsed);
    } catch (const UsageError& e) {
        failpipe::fuzz::check(std::string_view(e.what()).size() > 0, "a usage error says why");
    }
    return 0;
}
