// explain(): runs a message that always fails through the real dispatcher, one failure at a time.
#include "failpipe/explain.hpp"

#include <utility>

#include "failpipe/error.hpp"
#include "failpipe/failure.hpp"
#include "failpipe/message.hpp"

namespace failpipe {

std::vector<ExplainStep> explain(const FailureMiddlewareDispatcher& dispatcher, const ExplainOptions& options) {
    std::vector<ExplainStep> steps;
    explain(dispatcher, options, [&](const ExplainStep& step) { steps.push_back(step); });
    return steps;
}

void explain(const FailureMiddlewareDispatcher& dispatcher, const ExplainOptions& options,
             const std::function<void(const ExplainStep&)>& on_step) {
    if (!on_step) throw InvalidArgumentError("explain: no function given to receive the steps");
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
    for (int n = 1; n <= options.max_failures; ++n) {
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
