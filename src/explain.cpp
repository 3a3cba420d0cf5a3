// explain(): runs a message that always fails through the real dispatcher, one failure at a time.
#include "failpipe/explain.hpp"

#include <cmath>
#include <optional>
#include <sstream>
#include <utility>

#include "failpipe/error.hpp"
#include "failpipe/failure.hpp"
#include "failpipe/message.hpp"

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
    return ExplainStep{n, channel, std::move(decision), elapsed};
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
        on_step(ExplainStep{n, channel, decision, std::chrono::duration<double>(now - start)});
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

}  // namespace failpipe
