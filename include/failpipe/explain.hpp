/// @file explain.hpp
/// @brief Printing a pipeline's retry schedule before deployment (`failpipe explain`).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "failpipe/circuit_breaker.hpp"
#include "failpipe/error_class.hpp"
#include "failpipe/expiry.hpp"
#include "failpipe/failure_handling_request.hpp"
#include "failpipe/failure_middleware_dispatcher.hpp"
#include "failpipe/shard_groups.hpp"

namespace failpipe {

/// @brief One failure of the simulated message and what the pipeline decided.
struct ExplainStep {
    int failure = 0;        ///< 1 for the first failure (for an expiry step: the delivery that found it expired).
    std::string channel;    ///< The channel it failed on.
    Decision decision;      ///< Who acted, how, where to, after how long; `note` says when maxElapsed ended the retries.
    Seconds elapsed{0.0};   ///< Simulated time since the first failure (each retry fails as soon as it is due).
    /// True for the last step of a time to live: the delivery that found the message expired. It is
    /// no failure (the handler does not run), so a count of failures leaves it out.
    bool expired = false;
};

/// @brief What to simulate.
struct ExplainOptions {
    std::string channel;                          ///< Where the message is first pushed.
    int max_failures = 1000;                      ///< Stop after this many failures.
    ErrorClass error_class = ErrorClass::unknown; ///< The class of every failure.
    std::string error_type = "failpipe::Error";   ///< The exception type recorded.
    std::string error_message = "explain: simulated failure";
    /// A time to live given at push (> 0): a retry due after it is shown as a last step in which the
    /// worker expires the message (its handler does not run; the step's `note` says so).
    std::optional<Seconds> ttl = std::nullopt;
    ExpiredBehavior on_expired = ExpiredBehavior::dead_letter;  ///< What the worker does then (WorkerOptions::on_expired).
};

/// @brief Simulates a message whose handler always fails, through the real middlewares of
/// @p dispatcher: one step per failure until the message is dead-lettered, dropped or rethrown, or
/// @p options.max_failures failures. Deterministic: jittered delays report the schedule's value
/// with its bounds. Time is simulated (each retry fails the moment it is due), so a maxElapsed of the
/// dispatcher ends the schedule where it would: that step goes to the final behaviour and its
/// decision's `note` names the limit.
std::vector<ExplainStep> explain(const FailureMiddlewareDispatcher& dispatcher, const ExplainOptions& options);

/// @brief As above, handing each step to @p on_step as soon as it is decided instead of keeping
/// them all: memory stays constant however many failures are simulated.
void explain(const FailureMiddlewareDispatcher& dispatcher, const ExplainOptions& options,
             const std::function<void(const ExplainStep&)>& on_step);

/// @brief One line per breaker of @p breakers that guards @p message_type (every breaker when it is
/// not given), saying when it opens and what happens to a delivery while it is open.
std::vector<std::string> explain_breakers(const std::vector<std::shared_ptr<CircuitBreakerMiddleware>>& breakers,
                                          const std::optional<std::string>& message_type);

/// @brief A line saying what the retry budget of @p dispatcher means for a message first pushed to
/// @p channel, naming the maximum delay each of @p retrying_middlewares (ids, as explain() reported
/// them) waits past the budget; empty when the channel has no budget.
std::vector<std::string> explain_retry_budget(const FailureMiddlewareDispatcher& dispatcher, const std::string& channel,
                                              const std::vector<std::string>& retrying_middlewares);

/// @brief A line naming the shard group of @p channel in @p groups and saying that every retry and
/// dead letter of its pipeline stays in it; and, when a middleware of the pipeline that runs for it
/// (in @p dispatcher) does not say where it pushes, a line naming it. See docs/shard-groups.md.
std::vector<std::string> explain_shard_group(const ShardGroups& groups, const FailureMiddlewareDispatcher& dispatcher,
                                             const std::string& channel);

}  // namespace failpipe
