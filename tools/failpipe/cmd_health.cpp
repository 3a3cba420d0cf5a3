// `failpipe health`: the broker's health as a probe or a cron job reads it — the verdict on stdout
// and in the exit status (0 healthy, 1 warning, 2 unhealthy). Because 1 and 2 are verdicts here,
// a wrong command line is status 64 and a failure of the command itself 70 (sysexits.h).
#include <filesystem>
#include <fstream>
#include <iterator>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "broker.hpp"
#include "command.hpp"
#include "duration.hpp"
#include "failpipe/health.hpp"
#include "format.hpp"

namespace failpipe::cli {
namespace {

// A health report is a few kilobytes; anything much bigger is not one.
constexpr std::uintmax_t kMaxStateBytes = 1 << 20;

std::vector<std::string> channel_list(const std::string& text) {
    std::vector<std::string> channels;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        if (item.empty()) throw UsageError("--channel expects channel names separated by commas, found " + quote(text));
        channels.push_back(item);
    }
    if (channels.empty() || text.back() == ',')
        throw UsageError("--channel expects channel names separated by commas, found " + quote(text));
    return channels;
}

// The previous report, when the state file exists. A file that is not a report is refused and
// left as it is: it may be something else the operator named by mistake.
std::optional<HealthReport> read_state(const std::string& path) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (!std::filesystem::exists(status)) return std::nullopt;
    require_file(path);
    if (std::filesystem::file_size(path, ec) > kMaxStateBytes)
        throw UsageError("--state " + quote(path) + " is not a health report written by failpipe health (too big)");
    std::ifstream in(path, std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    try {
        return HealthReport::from_json(text);
    } catch (const InvalidArgumentError& e) {
        throw UsageError("--state " + quote(path) + " is not a health report written by failpipe health (" +
                         e.what() + "); it was left as it is");
    }
}

// Written beside the file and renamed over it, so a reader never sees half a report.
void write_state(const std::string& path, const HealthReport& report) {
    const std::string temporary = path + ".tmp";
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        out << report.to_json() << '\n';
        out.close();
        if (!out) throw Error("cannot write " + quote(temporary));
    }
    std::error_code ec;
    std::filesystem::rename(temporary, path, ec);
    if (ec) throw Error("cannot replace " + quote(path) + ": " + ec.message());
}

int run_health(const Invocation& inv) {
    const std::string format = inv.args.choice("format", {"text", "json"}, "text");
    HealthOptions options;
    if (auto channels = inv.args.value("channel")) options.channels = channel_list(*channels);
    if (auto timeout = inv.args.value("timeout")) {
        options.timeout = Seconds{parse_duration(*timeout, "--timeout")};
        if (!(options.timeout.count() > 0.0)) throw UsageError("--timeout expects a duration greater than 0, found " + quote(*timeout));
    }
    const auto state_path = inv.args.value("state");
    const std::optional<HealthReport> previous = state_path ? read_state(*state_path) : std::nullopt;

    // The dead-letter channels are those the workers of --config write to (C + its deadLetterSuffix).
    const Deployment deployment = deployment_of(inv.args);
    options.dead_letter_suffix = deployment.suffixes.dead_letter;
    RedisAdapter::Options adapter_options = redis_options(inv.args, deployment.config_or_null());
    // The adapter gives up when the probe does, so its thread does not outlive the command.
    adapter_options.connect_timeout = options.timeout;
    adapter_options.command_timeout = options.timeout;
    std::shared_ptr<RedisAdapter> broker = make_broker(adapter_options);
    const std::string url = broker->options().url;  // the password as ***

    BrokerHealthFacts facts = probe_broker(broker, options);
    if (!facts.reachable) facts.error = url + ": " + facts.error;
    const HealthReport report = evaluate_health(&facts, nullptr, previous ? &*previous : nullptr);
    if (format == "json") {
        inv.out << report.to_json() << '\n';
    } else {
        // A reason names channels from the broker, whose names may hold control bytes: printed as
        // every table line is, they cannot move the cursor or recolour the screen.
        std::istringstream lines(report.to_text());
        for (std::string line; std::getline(lines, line);) print_line(inv.out, line);
    }
    inv.out.flush();
    if (state_path) {
        try {
            write_state(*state_path, report);
        } catch (const std::exception& e) {
            inv.err << "failpipe health: " << e.what() << '\n';
            return kExitSoftware;
        }
    }
    return exit_code(report.status);
}

int run_health_guarded(const Invocation& inv) {
    try {
        return run_health(inv);
    } catch (const UsageError&) {
        throw;  // status 64, by main
    } catch (const std::exception& e) {
        // Not a verdict: 1 would read as "warning".
        inv.err << "failpipe health: " << e.what() << '\n';
        return kExitSoftware;
    }
}

}  // namespace

Command health_command() {
    Command c;
    c.words = {"health"};
    c.summary = "Check the broker and its dead letters: exit 0 healthy, 1 warning, 2 unhealthy";
    c.description =
        "Asks the broker for the depth of every dead-letter channel (or those of --channel) within --timeout\n"
        "and prints the verdict: healthy; warning when dead letters wait (or grew since the report kept in\n"
        "--state); unhealthy when the broker does not answer. The exit status is the verdict (0, 1, 2), so a\n"
        "probe or a cron job can use it; a wrong command line is status 64, a failure of the command itself\n"
        "70. The JSON form and every reason are described in docs/health.md.";
    c.options = {{"channel", "C[,C...]", "only the dead letters of these channels (default: every dead-letter channel)"},
                 {"format", "F", "text or json (default text)"},
                 {"timeout", "D", "how long the broker may take to answer (default 2s)"},
                 {"state", "FILE", "read the previous report from FILE (to see growth) and write this one there"}};
    for (auto& o : broker_options()) c.options.push_back(std::move(o));
    c.examples = {"failpipe health", "failpipe health --channel orders,payments --format json",
                  "failpipe health --state /var/lib/failpipe/health.json || alert"};
    c.usage_status = kExitSysUsage;
    c.run = run_health_guarded;
    return c;
}

}  // namespace failpipe::cli
