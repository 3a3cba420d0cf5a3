// `failpipe`: the command-line tool. Finds the command in the table, parses its arguments, runs it.
//
// Exit statuses: 0 done, 1 the command found a problem, 2 the command line was wrong.
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "args.hpp"
#ifdef FAILPIPE_HAVE_REDIS
#include "broker.hpp"
#endif
#include "command.hpp"
#include "format.hpp"
#include "failpipe/middleware_registry.hpp"
#include "failpipe/version.hpp"

namespace failpipe::cli {
namespace {

const std::vector<Command>& all_commands() {
    static const std::vector<Command> commands{
        config_check_command(), explain_command(),
#ifdef FAILPIPE_HAVE_REDIS
        channels_command(), stats_command(), health_command(), push_command(), inject_command(),
        dlq_list_command(), dlq_show_command(), dlq_groups_command(), dlq_replay_command(), dlq_purge_command(),
        layout_migrate_command(),
#endif
#if defined(FAILPIPE_HAVE_REDIS) && defined(FAILPIPE_HAVE_DASHBOARD)
        dashboard_command(),
#endif
    };
    return commands;
}

std::string usage_line(const Command& c) {
    std::string line = "failpipe " + c.name();
    for (const auto& p : c.positionals) line += " " + p.name;
    for (const auto& o : c.options) {
        const std::string option = "--" + o.name + (o.value_name.empty() ? "" : " " + o.value_name);
        line += o.required ? " " + option : " [" + option + "]";
    }
    return line;
}

void print_main_help(std::ostream& out) {
    out << "failpipe " << kVersion << ": inspect failpipe failure pipelines and operate their broker\n\n"
        << "Usage: failpipe <command> [arguments] [options]\n\n"
        << "Commands:\n";
    std::size_t width = 4;  // "help"
    for (const auto& c : all_commands()) width = std::max(width, c.name().size());
    for (const auto& c : all_commands())
        out << "  " << c.name() << std::string(width - c.name().size() + 2, ' ') << c.summary << '\n';
    out << "  help" << std::string(width - 4 + 2, ' ') << "Show help for a command: failpipe help <command>\n\n"
        << "Options:\n"
        << "  -h, --help     Show help (after a command: that command's help)\n"
        << "  -V, --version  Print the version\n\n"
        << "Exit status: 0 done, 1 the command found a problem (e.g. a bad config, an unreachable broker),\n"
        << "2 bad arguments; except health: 0 healthy, 1 warning, 2 unhealthy, 64 bad arguments,\n"
        << "70 the check could not finish (e.g. its --state file could not be written).\n"
        << "The config format is described in docs/config.md, the commands in docs/cli.md.\n";
#ifdef FAILPIPE_HAVE_REDIS
    out << "Broker commands take --redis URL (else $FAILPIPE_REDIS_URL, else " << kDefaultRedisUrl
        << ") and --prefix P.\n";
#endif
}

void print_help_help(std::ostream& out) {
    out << "Usage: failpipe help [COMMAND]\n\n"
        << "Show help for a command.\n\n"
        << "Without COMMAND, lists the commands (as \"failpipe --help\"). With one, prints its usage,\n"
        << "arguments and examples (as \"failpipe COMMAND --help\").\n\n"
        << "Examples:\n"
        << "  failpipe help explain\n"
        << "  failpipe help config check\n";
}

void print_command_help(std::ostream& out, const Command& c) {
    out << "Usage: " << usage_line(c) << "\n\n" << c.summary << ".\n\n" << c.description << '\n';
    if (!c.positionals.empty() || !c.options.empty()) {
        out << "\nArguments:\n";
        std::size_t width = 10;  // "-h, --help"
        auto label = [](const OptionSpec& o) {
            return "--" + o.name + (o.value_name.empty() ? "" : " " + o.value_name);
        };
        for (const auto& p : c.positionals) width = std::max(width, p.name.size());
        for (const auto& o : c.options) width = std::max(width, label(o).size());
        for (const auto& p : c.positionals)
            out << "  " << p.name << std::string(width - p.name.size() + 2, ' ') << p.help << '\n';
        for (const auto& o : c.options)
            out << "  " << label(o) << std::string(width - label(o).size() + 2, ' ') << o.help
                << (o.required ? " (required)" : "") << '\n';
        out << "  -h, --help" << std::string(width - 10 + 2, ' ') << "Show this help\n";
    }
    if (!c.examples.empty()) {
        out << "\nExamples:\n";
        for (const auto& e : c.examples) out << "  " << e << '\n';
    }
}

// Commands of a group (`config check`, later `config ...`) share their first word.
std::vector<const Command*> group(const std::string& word) {
    std::vector<const Command*> found;
    for (const auto& c : all_commands())
        if (c.words.size() > 1 && c.words.front() == word) found.push_back(&c);
    return found;
}

void print_group_help(std::ostream& out, const std::string& word) {
    out << "Usage: failpipe " << word << " <command>\n\nCommands:\n";
    for (const Command* c : group(word)) out << "  " << usage_line(*c) << "\n      " << c->summary << '\n';
}

std::vector<std::string> first_words() {
    std::vector<std::string> words{"help"};
    for (const auto& c : all_commands())
        if (std::find(words.begin(), words.end(), c.words.front()) == words.end()) words.push_back(c.words.front());
    return words;
}

// The command whose words begin @p args, and how many words it used.
std::pair<const Command*, std::size_t> find_command(const std::vector<std::string>& args) {
    for (const auto& c : all_commands()) {
        if (args.size() < c.words.size()) continue;
        if (std::equal(c.words.begin(), c.words.end(), args.begin())) return {&c, c.words.size()};
    }
    return {nullptr, 0};
}

std::string help_hint(const std::string& command) {
    return " (see \"failpipe " + (command.empty() ? std::string{} : command + " ") + "--help\")";
}

// An error's text may repeat a name or a value from the command line, a file or the broker: each
// of its lines is printed as a table cell is (control bytes as '?').
void print_error(const std::string& who, const std::string& what) {
    std::size_t start = 0;
    std::string prefix = who + ": ";
    for (;;) {
        const std::size_t end = what.find('\n', start);
        print_line(std::cerr, prefix + what.substr(start, end == std::string::npos ? std::string::npos : end - start));
        if (end == std::string::npos || end + 1 == what.size()) return;
        start = end + 1;
        prefix.clear();
    }
}

// Who complains, what is wrong, and where help is (@p help_for: "" for the main help).
int usage_error(const std::string& command, const std::string& message, const std::string& help_for) {
    print_error("failpipe" + (command.empty() ? "" : " " + command), message + help_hint(help_for));
    return kExitUsage;
}

int usage_error(const std::string& command, const std::string& message) {
    return usage_error(command, message, command);
}

int run(const std::vector<std::string>& args) {
    if (args.empty()) return usage_error("", "missing command");
    const std::string& first = args.front();
    if (first == "--help" || first == "-h") {
        if (args.size() > 1) return usage_error("", "unexpected argument " + quote(args[1]) + " after " + first +
                                                         "; for a command's help: failpipe help <command>");
        print_main_help(std::cout);
        return kExitOk;
    }
    if (first == "--version" || first == "-V") {
        if (args.size() > 1) return usage_error("", "unexpected argument " + quote(args[1]) + " after " + first);
        std::cout << "failpipe " << kVersion << '\n';
        return kExitOk;
    }
    if (first == "help") {
        const std::vector<std::string> rest(args.begin() + 1, args.end());
        if (rest.empty()) {
            print_main_help(std::cout);
            return kExitOk;
        }
        if (rest.size() == 1 && (rest.front() == "help" || rest.front() == "--help" || rest.front() == "-h")) {
            print_help_help(std::cout);
            return kExitOk;
        }
        if (auto [command, used] = find_command(rest); command && used == rest.size()) {
            print_command_help(std::cout, *command);
            return kExitOk;
        }
        if (rest.size() == 1 && !group(rest.front()).empty()) {
            print_group_help(std::cout, rest.front());
            return kExitOk;
        }
        std::string words = rest.front();
        for (std::size_t i = 1; i < rest.size(); ++i) words += " " + rest[i];
        return usage_error("help", "no command " + quote(words), "");
    }

    auto [command, used] = find_command(args);
    if (!command) {
        if (first.starts_with("-")) return usage_error("", "unknown option " + quote(first));
        if (auto members = group(first); !members.empty()) {
            const bool asks_help = args.size() > 1 && (args[1] == "--help" || args[1] == "-h");
            if (asks_help) {
                print_group_help(std::cout, first);
                return kExitOk;
            }
            std::vector<std::string> names;
            for (const Command* c : members) names.push_back(c->words[1]);
            if (args.size() == 1) return usage_error(first, "missing command; expected " + one_of(names));
            std::string message = "unknown command " + quote(first + " " + args[1]);
            if (auto near = nearest_word(args[1], names))
                message += "; did you mean " + quote(first + " " + *near) + "?";
            return usage_error(first, message);
        }
        std::string message = "unknown command " + quote(first);
        if (auto near = nearest_word(first, first_words())) message += "; did you mean " + quote(*near) + "?";
        return usage_error("", message);
    }

    const std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(used), args.end());
    try {
        const ParsedArgs parsed = parse_args(rest, command->options, command->positionals);
        if (parsed.help) {
            print_command_help(std::cout, *command);
            return kExitOk;
        }
        return command->run(Invocation{parsed, std::cout, std::cerr});
    } catch (const UsageError& e) {
        usage_error(command->name(), e.what());
        return command->usage_status;
    } catch (const std::exception& e) {
        print_error("failpipe " + command->name(), e.what());
        return kExitFailed;
    }
}

}  // namespace
}  // namespace failpipe::cli

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    try {
        return failpipe::cli::run(args);
    } catch (const std::exception& e) {
        failpipe::cli::print_error("failpipe", e.what());
        return failpipe::cli::kExitFailed;
    }
}
