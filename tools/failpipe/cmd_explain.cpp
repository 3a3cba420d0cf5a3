// `failpipe explain`: the decisions a config's pipelines make for a message that always fails.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <unordered_map>
#include <vector>

#include "command.hpp"
#include "duration.hpp"
#include "failpipe/config.hpp"
#include "failpipe/explain.hpp"
#include "format.hpp"

namespace failpipe::cli {
namespace {

constexpr long long kDefaultFailures = 1000;
constexpr long long kMaxFailures = 1000000;

bool has_push(FailureAction action) { return action != FailureAction::drop && action != FailureAction::rethrow; }
bool is_retry(FailureAction action) { return action == FailureAction::send_again || action == FailureAction::delay; }

// One row of the table without its strings (they are interned): a million failures take tens of
// megabytes, not the hundreds a row of six strings each would.
struct Row {
    int failure;
    std::uint32_t channel;
    std::uint32_t middleware;
    std::uint32_t to;
    FailureAction action;
    bool jittered;
    bool expired;  // the delivery that found the message expired: no failure
    double delay;
    double delay_min;
    double delay_max;
};

class Names {
public:
    std::uint32_t id(const std::string& name) {
        auto [it, added] = ids_.try_emplace(name, static_cast<std::uint32_t>(names_.size()));
        if (added) names_.push_back(name);
        return it->second;
    }
    const std::string& name(std::uint32_t id) const { return names_[id]; }

private:
    std::vector<std::string> names_;
    std::unordered_map<std::string, std::uint32_t> ids_;
};

std::string delay_cell(const Row& r) {
    if (!has_push(r.action)) return "-";
    std::string cell = format_number(r.delay);
    if (r.jittered) cell += " (" + format_number(r.delay_min) + "-" + format_number(r.delay_max) + ")";
    return cell;
}

// The steps as they come, then the table, then the closing line.
class TablePrinter {
public:
    void add(const ExplainStep& s) {
        const Decision& d = s.decision;
        rows_.push_back(Row{s.failure, names_.id(s.channel), names_.id(d.middleware), names_.id(d.to), d.action,
                            d.jittered, s.expired, d.delay.count(), d.delay_min.count(), d.delay_max.count()});
        if (!s.expired) ++failures_;
        if (is_retry(d.action)) {
            ++retries_;
            total_delay_ += d.delay.count();
        }
        // The expiry row is a delivery whose handler never ran, not a failure.
        if (!d.note.empty())
            notes_.push_back((s.expired ? "delivery " : "failure ") + std::to_string(s.failure) + ": " + d.note);
    }

    void print(std::ostream& out) const {
        print_table(out, {"failure", "channel", "middleware", "action", "to", "delay"}, rows_.size(),
                    [&](std::size_t i) { return cells(rows_[i]); }, {0});
        if (!rows_.empty()) print_line(out, closing_line());
        for (const auto& note : notes_) print_line(out, note);  // why a schedule ended early (maxElapsed, expiry)
    }

private:
    std::vector<std::string> cells(const Row& r) const {
        return {std::to_string(r.failure), names_.name(r.channel), names_.name(r.middleware),
                std::string(to_string(r.action)), has_push(r.action) ? names_.name(r.to) : "-", delay_cell(r)};
    }

    std::string closing_line() const {
        // A sum of finite delays that overflows is still told truly: more than the largest double.
        const std::string total =
            std::isfinite(total_delay_) ? format_rounded(total_delay_, 12) + " s" : "more than 1.7e308 s";
        const std::string tally = " (" + std::to_string(retries_) + (retries_ == 1 ? " retry, " : " retries, ") +
                                  total + " of delay in all)";
        const Row& last = rows_.back();
        const std::string failures = std::to_string(failures_) + (failures_ == 1 ? " failure" : " failures");
        const std::string expired = last.expired ? "expired and " : "";
        switch (last.action) {
            case FailureAction::dead_letter:
                return expired + "dead-lettered to " + names_.name(last.to) + " after " + failures + tally;
            case FailureAction::drop:
                return expired + "dropped after " + failures + tally;
            case FailureAction::rethrow:
                return "rethrown after " + failures + tally +
                       "; the delivery stays unsettled until its visibility timeout";
            default:
                return "still retrying after " + failures + tally + "; stopped at the --failures limit";
        }
    }

    Names names_;
    std::vector<Row> rows_;
    std::vector<std::string> notes_;
    std::size_t failures_ = 0;
    std::size_t retries_ = 0;
    double total_delay_ = 0;
};

void print_json_line(std::ostream& out, const ExplainStep& s) {
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
    if (!d.note.empty()) {
        line["elapsed"] = json_number(s.elapsed.count());
        line["note"] = d.note;
    }
    if (s.expired) line["expired"] = true;  // the delivery that found it expired: no failure
    out << line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
}

// Distinct ids of the middlewares that retried, in the order they first did.
class RetryingMiddlewares {
public:
    void add(const ExplainStep& s) {
        if (!is_retry(s.decision.action)) return;
        if (std::find(ids_.begin(), ids_.end(), s.decision.middleware) == ids_.end()) ids_.push_back(s.decision.middleware);
    }
    const std::vector<std::string>& ids() const { return ids_; }

private:
    std::vector<std::string> ids_;
};

// What the breakers and the retry budget do to this message (nothing when neither is configured),
// then the shard group the channel is in.
void print_resilience(std::ostream& out, const Config& config, const ExplainOptions& options,
                      const std::optional<std::string>& message_type, const RetryingMiddlewares& retrying, bool json) {
    auto print = [&](const char* kind, const std::string& note) {
        if (!json) {
            print_line(out, note);
            return;
        }
        nlohmann::ordered_json line;
        line["kind"] = kind;
        line["note"] = note;
        out << line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
    };
    for (const auto& note : explain_breakers(config.breakers, message_type)) print("breaker", note);
    for (const auto& note : explain_retry_budget(config.make_dispatcher(), options.channel, retrying.ids()))
        print("retry-budget", note);
    for (const auto& note : explain_shard_group(config.shard_groups, config.make_dispatcher(), options.channel))
        print("shard-group", note);
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
    if (auto ttl = args.value("ttl")) options.ttl = Seconds{parse_ttl(*ttl, "--ttl")};
    std::optional<std::string> message_type = args.value("message-type");
    if (message_type && message_type->empty()) throw UsageError("--message-type expects a message type, found \"\"");
    require_file(file);

    std::optional<Config> config;
    try {
        config.emplace(load_config_file(file));
    } catch (const ConfigError& e) {
        print_config_issues(inv.err, file, e);
        return kExitFailed;
    }
    options.on_expired = config->worker.on_expired;
    // JSON lines go out as they are decided; the table needs every row for its column widths.
    RetryingMiddlewares retrying;
    if (format == "json") {
        explain(config->make_dispatcher(), options, [&](const ExplainStep& step) {
            retrying.add(step);
            print_json_line(inv.out, step);
        });
        print_resilience(inv.out, *config, options, message_type, retrying, true);
        return kExitOk;
    }
    TablePrinter table;
    explain(config->make_dispatcher(), options, [&](const ExplainStep& step) {
        retrying.add(step);
        table.add(step);
    });
    table.print(inv.out);
    print_resilience(inv.out, *config, options, message_type, retrying, false);
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
        "range it is drawn from. A maxElapsed of the config, or a time to live (--ttl), that ends\n"
        "the schedule early is named on a line after the table. Then one line per circuit breaker\n"
        "that guards the message (all of them, or those of --message-type): when it opens and that\n"
        "while open a delivery is released, no attempt counted; and, when the channel has a retry\n"
        "budget, the delay each retrying middleware waits past it. Last, the shard group of the channel\n"
        "(docs/shard-groups.md), in which every retry and dead letter stays. Exits 1 when the config\n"
        "is refused.";
    c.options = {
        {"config", "FILE", "the JSON config (see docs/config.md)", true},
        {"channel", "NAME", "the channel the message is first pushed to", true},
        {"failures", "N", "stop after N failures (default 1000)", false},
        {"error-class", "C", "the class of every failure: transient, permanent or unknown (default)", false},
        {"format", "F", "table (default) or json: one object per line", false},
        {"ttl", "S", "a time to live given at push (90s, 15m, 2h, 7d): show where it expires the message", false},
        {"message-type", "T", "the message's type (handler name): show only the breakers that guard it", false},
    };
    c.examples = {"failpipe explain --config config/yii-guide.json --channel orders",
                  "failpipe explain --config config/demo.json --channel orders --error-class permanent --format json"};
    c.run = run_explain;
    return c;
}

}  // namespace failpipe::cli
