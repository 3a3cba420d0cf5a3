/// @file command.hpp
/// @brief The `failpipe` command table: what a command declares, and the commands there are.
///
/// A new command is one function returning a Command (in its own cmd_*.cpp) plus one line in
/// all_commands() (main.cpp). Parsing, --help and usage errors are handled for it.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "args.hpp"

namespace failpipe::cli {

/// @brief Exit statuses of every command.
enum ExitStatus : int {
    kExitOk = 0,      ///< Done; for checks: the input is good.
    kExitFailed = 1,  ///< The command ran and found a problem (a bad config, ...).
    kExitUsage = 2,   ///< The command line was wrong: nothing was done.
    /// `push`: stored, but not confirmed by the replicas durability "replicas" asks for; pushing
    /// again would store a second copy.
    kExitUnconfirmed = 3,
    /// Commands whose 1 and 2 are verdicts (`health`: warning, unhealthy) use sysexits.h instead:
    kExitSysUsage = 64,     ///< EX_USAGE: the command line was wrong.
    kExitSoftware = 70,     ///< EX_SOFTWARE: the command could not reach a verdict.
};

/// @brief What a command's run function gets.
struct Invocation {
    const ParsedArgs& args;
    std::ostream& out;
    std::ostream& err;
};

/// @brief One command of the table.
struct Command {
    std::vector<std::string> words;           ///< Its name as typed: {"config", "check"}.
    std::string summary;                      ///< One line for `failpipe --help`.
    std::string description;                  ///< A paragraph for `failpipe <command> --help`.
    std::vector<PositionalSpec> positionals;  ///< Required positional arguments.
    std::vector<OptionSpec> options;          ///< Accepted options (besides --help).
    std::vector<std::string> examples;        ///< Example command lines for the help.
    /// @brief Runs the command; returns an ExitStatus. May throw UsageError (exit 2).
    std::function<int(const Invocation&)> run;
    /// @brief The status of a usage error (kExitSysUsage where 2 means something else).
    int usage_status = kExitUsage;

    /// @brief `config check`.
    std::string name() const;
};

/// @brief `failpipe config check FILE`.
Command config_check_command();
/// @brief `failpipe explain --config FILE --channel NAME ...`.
Command explain_command();

#ifdef FAILPIPE_HAVE_REDIS
/// @brief `failpipe channels`.
Command channels_command();
/// @brief `failpipe stats`.
Command stats_command();
/// @brief `failpipe health` (cmd_health.cpp).
Command health_command();
/// @brief `failpipe push`.
Command push_command();
/// @brief `failpipe inject` (cmd_inject.cpp).
Command inject_command();
/// @brief `failpipe dlq list`, `show`, `groups`, `replay`, `purge` (cmd_dlq.cpp).
Command dlq_list_command();
Command dlq_show_command();
Command dlq_groups_command();
Command dlq_replay_command();
Command dlq_purge_command();
/// @brief `failpipe layout migrate` (cmd_layout.cpp).
Command layout_migrate_command();
#endif
#if defined(FAILPIPE_HAVE_REDIS) && defined(FAILPIPE_HAVE_DASHBOARD)
/// @brief `failpipe dashboard` (cmd_dashboard.cpp).
Command dashboard_command();
#endif

/// @brief Throws UsageError unless @p path names an existing file (a missing file is a usage error).
void require_file(const std::string& path);

/// @brief Throws UsageError unless @p prefix (of `--prefix`) is a key prefix: not empty, no `{` or `}`
/// (the keys wrap it in a hash tag, `{prefix}`).
void require_prefix(const std::string& prefix);

/// @brief Prints the issues of a refused config, one per line: `FILE: /path: message`.
void print_config_issues(std::ostream& err, const std::string& file, const ConfigError& error);

}  // namespace failpipe::cli
