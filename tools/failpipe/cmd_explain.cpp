// `failpipe explain`: the decisions a config's pipelines make for a message that always fails.
#include <cmath>
#include <ostream>
#include <string>

#include "command.hpp"
#include "failpipe/config.hpp"
#include "failpipe/explain.hpp"
#include "format.hpp"

namespace failpipe::cli {
namespace {

constexpr long long kDefaultFailures = 1000;
constexpr long long kMaxFailures = 1000000;

bool has_push(FailureAction action) { return action != FailureAction::drop && action != FailureAction::rethrow; }
bool is_retry(FailureAction action) { return action == FailureAction::send_again || action == FailureAction::delay; }

std::string delay_cell(const Decision& d) {
    if (!has_push(d.action)) return "-";
    std::string cell = format_number(d.delay.count());
    if (d.jittered) cell += " (" + format_number(d.delay_min.count()) + "-" + format_number(d.delay_max.count()) + ")";
    return cell;
}

void print_table_format(std::ostream& out, const std::vector<ExplainStep>& steps) {
    std::vector<std::vector<std::string>> rows;
    rows.reserve(steps.size());
    for (const auto& s : steps) {
        const Decision& d = s.decision;
        rows.push_back({std::to_string(s.failure), s.channel, d.middleware, std::string(to_string(d.action)),
                        has_push(d.action) ? d.to : "-", delay_cell(d)});
    }
    print_table(out, {"failure", "channel", "middleware", "action", "to", "delay"}, rows, {0});

    std::size_t retries = 0;
    double total_delay = 0;
    for (const auto& s : steps) {
        if (!is_retry(s.decision.action)) continue;
        ++retries;
        total_delay += s.decision.delay.count();
    }
    // A sum of finite delays that overflows is still a true statement as "more than the largest double".
    const std::string total = std::isfinite(total_delay) ? format_rounded(total_delay, 12) + " s"
                                                         : "more than 1.7e308 s";
    const std::string tally =
        " (" + std::to_string(retries) + (retries == 1 ? " retry, " : " retries, ") + total + " of delay in all)";
    const Decision& last = steps.back().decision;
    const std::string failures = std::to_string(steps.size()) + (steps.size() == 1 ? " failure" : " failures");
    switch (last.action) {
        case FailureAction::dead_letter:
            out << "dead-lettered to " << last.to << " after " << failures << tally << '\n';
            break;
        case FailureAction::drop:
            out << "dropped after " << failures << tally << '\n';
            break;
        case FailureAction::rethrow:
            out << "rethrown after " << failures << tally
                << "; the delivery stays unsettled until its visibility timeout\n";
            break;
        default:
            out << "still retrying after " << failures << tally << "; stopped at the --failures limit\n";
            break;
    }
}

void print_json_format(std::ostream& out, const std::vector<ExplainStep>& steps) {
    for (const auto& s : steps) {
        const Decision& d = s.decision;
        nlohmann::ordered_json line;
        line["failure"] = s.failure;
        line["channel"] = s.channel;
        line["middleware"] = d.middleware;
        line["action"] = std::string(to_string(d.action));
        line["to"] = has_push(d.action) ? nlohmann::ordered_json(d.to) : nlohmann::ordered_json(nullptr);
        line["delay"] = has_push(d.action) ? json_number(d.delay.count()) : nlohmann::ordered_json(nullptr);
        if (d.jittered) {
            line["delayMin"] = json_number(d.delay_min.count());
            line["delayMax"] = json_number(d.delay_max.count());
        }
        out << line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
    }
}

int run_explain(const Invocation& inv) {
    const ParsedArgs& args = inv.args;
    const std::string file = *args.value("config");
    ExplainOptions options;
    options.channel = *args.value("channel");
    if (options.channel.empty()) throw UsageError("--channel expects a channel name, found \"\"");
    options.max_failures = static_cast<int>(args.integer("failures", 1, kMaxFailures, kDefaultFailures));
    const std::string error_class = args.choice("error-class", {"transient", "permanent", "unknown"}, "unknown");
    options.error_class = *parse_error_class(error_class);
    // The type a real handler would most likely throw for that class; it is recorded on dead letters.
    options.error_type = error_class == "transient"   ? "failpipe::TransientError"
                         : error_class == "permanent" ? "failpipe::PermanentError"
                                                      : "failpipe::Error";
    const std::string format = args.choice("format", {"table", "json"}, "table");
    require_file(file);

    std::vector<ExplainStep> steps;
    try {
        const Config config = load_config_file(file);
        steps = explain(config.make_dispatcher(), options);
    } catch (const ConfigError& e) {
        print_config_issues(inv.err, file, e);
        return kExitFailed;
    }
    if (format == "json")
        print_json_format(inv.out, steps);
    else
        print_table_format(inv.out, steps);
    return kExitOk;
}

}  // namespace

Command explain_command() {
    Command c;
    c.words = {"explain"};
    c.summary = "Print the decisions a config makes for a message that always fails";
    c.description =
        "Simulates a message first pushed to channel NAME whose handler always fails, through the\n"
        "config's real middlewares, and prints one decision per failure until the message is\n"
        "dead-lettered, dropped or rethrown (or N failures): the failure number, the channel it\n"
        "failed on, the middleware that acted (or \"final\"), the action, the target channel and the\n"
        "delay in seconds. Under jitter the delay shown is the schedule's value, followed by the\n"
        "range it is drawn from. Exits 1 when the config is refused.";
    c.options = {
        {"config", "FILE", "the JSON config (see docs/config.md)", true},
        {"channel", "NAME", "the channel the message is first pushed to", true},
        {"failures", "N", "stop after N failures (default 1000)", false},
        {"error-class", "C", "the class of every failure: transient, permanent or unknown (default)", false},
        {"format", "F", "table (default) or json: one object per line", false},
    };
    c.examples = {"failpipe explain --config config/yii-guide.json --channel orders",
                  "failpipe explain --config config/demo.json --channel orders --error-class permanent --format json"};
    c.run = run_explain;
    return c;
}

}  // namespace failpipe::cli
