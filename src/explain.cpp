// explain(): runs a message that always fails through the real dispatcher, one failure at a time.
#include "failpipe/explain.hpp"

#include <cmath>
#include <optional>
#include <sstream>
#include <utility>

#include "failpipe/error.hpp"
#include "failpipe/failure.hpp"
#include "failpipe/message.hpp"
#include "failpipe/retry_budget.hpp"

namespace failpipe {
namespace {

// The step at which a retry is reserved after the message's time to live: its handler never runs.
ExplainStep expired_step(const FailureMiddlewareDispatcher& dispatcher, const ExplainOptions& options, int n,
                         const std::string& channel, Seconds elapsed) {
    Decision decision;
    decision.middleware = "worker";
    decision.action = options.on_expired == ExpiredBehavior::drop ? FailureAction::drop : FailureAction::dead_letter;
    if (decision.action == FailureAction::dead_letter) decision.to = dispatcher.dead_letter_channel(channel);
    std::ostringstream note;
    note << "expired: its time to live (" << options.ttl->count() << " s from the push) ended before this retry";
    decision.note = note.str();
    return ExplainStep{n, channel, std::move(decision), elapsed, true};
}

}  // namespace

std::vector<ExplainStep> explain(const FailureMiddlewareDispatcher& dispatcher, const ExplainOptions& options) {
    std::vector<ExplainStep> steps;
    explain(dispatcher, options, [&](const ExplainStep& step) { steps.push_back(step); });
    return steps;
}

void explain(const FailureMiddlewareDispatcher& dispatcher, const ExplainOptions& options,
             const std::function<void(const ExplainStep&)>& on_step) {
    if (!on_step) throw InvalidArgumentError("explain: no function given to receive the steps");
    // The schedule is shown as the pipeline makes it; a retry budget would be spent by the
    // simulation itself (the CLI says what happens past the budget on a line of its own).
    if (dispatcher.options().retry_budget) return explain(dispatcher.without_retry_budget(), options, on_step);
    if (options.channel.empty()) throw InvalidArgumentError("explain: the channel must not be empty");
    if (options.max_failures < 1)
        throw InvalidArgumentError("explain: max_failures must be at least 1, " + std::to_string(options.max_failures) +
                                   " given");

    Message message;
    message.id = "explain";
    message.handler = "explain";
    const Failure failure{nullptr, options.error_type, options.error_message, options.error_class};

    std::string channel = options.channel;
    // Simulated time, so maxElapsed ends the schedule where it would; the start is arbitrary.
    const TimePoint start{std::chrono::seconds{1767225600}};
    TimePoint now = start;
    std::optional<TimePoint> expires;
    if (options.ttl) {
        if (!std::isfinite(options.ttl->count()) || !(options.ttl->count() > 0))
            throw InvalidArgumentError("explain: the time to live must be a finite number of seconds > 0");
        expires = start + to_clock_duration(*options.ttl);
    }
    for (int n = 1; n <= options.max_failures; ++n) {
        if (expires && *expires <= now) {
            on_step(expired_step(dispatcher, options, n, channel, std::chrono::duration<double>(now - start)));
            break;
        }
        FailureHandlingRequest request =
            dispatcher.dispatch(FailureHandlingRequest(std::move(message), channel), failure, now);
        if (!request.decision())
            throw Error("explain: the pipeline of channel \"" + channel + "\" returned without a decision");
        Decision decision = *request.decision();
        // The schedule's own value keeps the output the same on every run; the bounds show the spread.
        if (decision.jittered) decision.delay = decision.base_delay;

        const bool retried = decision.action == FailureAction::send_again || decision.action == FailureAction::delay;
        on_step(ExplainStep{n, channel, decision, std::chrono::duration<double>(now - start), false});
        if (!retried) break;

        if (request.pushes().empty())
            throw Error("explain: middleware \"" + decision.middleware + "\" decided " +
                        std::string(to_string(decision.action)) + " but staged no push");
        // The next failure happens where the retry went, to the message as the pipeline updated it.
        const OutgoingMessage& push = request.pushes().front();
        channel = decision.to.empty() ? push.channel : decision.to;
        message = push.message;
        // The retry fails as soon as it is due: the schedule's own value, as reported.
        now += to_clock_duration(decision.delay);
    }
}

namespace {

std::string number(double value) {
    std::ostringstream out;
    out << value;
    return out.str();
}

std::string classes_text(const ErrorClassSet& on) {
    std::string text;
    for (ErrorClass c : {ErrorClass::transient, ErrorClass::permanent, ErrorClass::unknown}) {
        if (!on.contains(c)) continue;
        if (!text.empty()) text += " or ";
        text += to_string(c);
    }
    return text.empty() ? "any" : text;
}

std::string breaker_line(const CircuitBreakerMiddleware& middleware) {
    const CircuitBreaker& breaker = *middleware.breaker();
    const CircuitBreakerOptions& o = breaker.options();
    std::ostringstream line;
    line << "breaker \"" << breaker.name() << "\" guards ";
    if (!middleware.message_types()) {
        line << "every message type";
    } else if (middleware.message_types()->empty()) {
        line << "no message type (handlers use it by name)";
    } else {
        line << "message type" << (middleware.message_types()->size() == 1 ? " " : "s ");
        bool first = true;
        for (const auto& type : *middleware.message_types()) {
            line << (first ? "" : ", ") << type;
            first = false;
        }
    }
    const std::string counted = classes_text(o.on) + " failures";
    line << ": opens";
    if (o.failure_threshold) line << " on " << *o.failure_threshold << " " << counted << " within " << number(o.window.count()) << " s";
    if (o.failure_threshold && o.failure_ratio_percent) line << ", or";
    if (o.failure_ratio_percent)
        line << " when " << counted << " reach " << number(*o.failure_ratio_percent) << "% of at least " << o.minimum_calls
             << " calls within " << number(o.window.count()) << " s";
    line << "; while open, a delivery is released until the open period ends, plus up to "
         << number(o.release_delay.count()) << " s (spread), no attempt counted, nothing dead-lettered; after " << number(o.open_for.count()) << " s, "
         << o.half_open_probes << (o.half_open_probes == 1 ? " probe decides" : " probes decide")
         << " whether it closes";
    return line.str();
}

const MiddlewareFailureInterface* find_middleware(const FailureMiddlewareDispatcher& dispatcher, const std::string& id) {
    for (const auto& middleware : dispatcher.options().default_pipeline)
        if (middleware->id() == id) return middleware.get();
    for (const auto& [channel, pipeline] : dispatcher.options().pipelines)
        for (const auto& middleware : pipeline)
            if (middleware->id() == id) return middleware.get();
    return nullptr;
}

}  // namespace

std::vector<std::string> explain_breakers(const std::vector<std::shared_ptr<CircuitBreakerMiddleware>>& breakers,
                                          const std::optional<std::string>& message_type) {
    std::vector<std::string> lines;
    for (const auto& middleware : breakers) {
        if (!middleware || (message_type && !middleware->applies_to(*message_type))) continue;
        lines.push_back(breaker_line(*middleware));
    }
    return lines;
}

std::vector<std::string> explain_shard_group(const ShardGroups& groups, const FailureMiddlewareDispatcher& dispatcher,
                                             const std::string& channel) {
    const std::string group = groups.group_of(channel);
    const ShardGroup* known = groups.find(group);
    std::ostringstream line;
    line << "channel \"" << channel << "\" is in shard group \"" << group << "\"";
    if (known)
        line << " (" << known->channels.size() << (known->channels.size() == 1 ? " channel" : " channels") << ")";
    else
        line << " (the config does not name it: a group of its own, with its dead-letter and parked channels)";
    line << ": every retry and dead letter of its pipeline stays in it, so on a Redis Cluster each settle is still "
            "one atomic step in one slot";
    std::vector<std::string> lines{line.str()};
    for (const auto& middleware : dispatcher.pipeline_for(channel)) {
        if (middleware->targets(dispatcher.options().dead_letter_suffix)) continue;
        lines.push_back("middleware \"" + middleware->id() +
                        "\" does not say where it pushes (MiddlewareFailureInterface::targets): a push of it to "
                        "another shard group would not be atomic on a Redis Cluster");
    }
    return lines;
}

std::vector<std::string> explain_retry_budget(const FailureMiddlewareDispatcher& dispatcher, const std::string& channel,
                                              const std::vector<std::string>& retrying_middlewares) {
    const auto& budget = dispatcher.options().retry_budget;
    const RetryBudgetOptions* o = budget ? budget->options_for(channel) : nullptr;
    if (!o) return {};
    std::ostringstream line;
    line << "retry budget of channel \"" << channel << "\": early retries at most " << number(o->ratio_percent)
         << "% of first attempts per " << number(o->window.count()) << " s (at least " << o->min_retries
         << "); past it, a retry waits its middleware's maximum delay instead of its schedule";
    bool first = true;
    for (const auto& id : retrying_middlewares) {
        const MiddlewareFailureInterface* middleware = find_middleware(dispatcher, id);
        const std::optional<Seconds> maximum = middleware ? middleware->maximum_delay() : std::nullopt;
        line << (first ? ": " : ", ") << id << " "
             << number(maximum ? maximum->count() : o->fallback_delay.count())
             << (maximum ? " s" : " s (fallbackDelay)");
        first = false;
    }
    if (first) line << " (fallbackDelay " << number(o->fallback_delay.count()) << " s without one)";
    return {line.str()};
}

}  // namespace failpipe
