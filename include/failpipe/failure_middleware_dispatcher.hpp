/// @file failure_middleware_dispatcher.hpp
/// @brief FailureMiddlewareDispatcher: picks a channel's failure pipeline (or the default) and runs it.
///
/// Selection follows Yii: the channel's own pipeline when it is non-empty, else the default
/// pipeline; never both, no fall-through. When no middleware acts, the final behaviour decides.
/// Thread safety: immutable after construction; dispatch() is safe from many threads.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "failpipe/clock.hpp"
#include "failpipe/failure_middleware.hpp"
#include "failpipe/failure_record.hpp"

namespace failpipe {

class RetryBudget;

/// @brief What happens to a failure that no middleware handled.
enum class FinalBehavior {
    dead_letter,  ///< move it to `<channel><suffix>` with the failure recorded (default)
    rethrow,      ///< Yii's behaviour: the worker throws MessageFailureError, the delivery stays unsettled
    drop,         ///< acknowledge and discard it (counted in the worker's metrics)
};

/// @brief `dead-letter`, `rethrow`, `drop`.
std::string_view to_string(FinalBehavior behavior) noexcept;
/// @brief Parses a final behaviour name; std::nullopt when unknown.
std::optional<FinalBehavior> parse_final_behavior(std::string_view name) noexcept;

/// @brief A list of middlewares, run first to last.
using FailurePipeline = std::vector<FailureMiddlewarePtr>;

/// @brief Runs the failure pipeline of a delivery's channel.
class FailureMiddlewareDispatcher {
public:
    /// @brief Everything a dispatcher is built from.
    struct Options {
        FailurePipeline default_pipeline;                 ///< For channels without a pipeline of their own.
        std::map<std::string, FailurePipeline> pipelines; ///< By channel name.
        FinalBehavior final_behavior = FinalBehavior::dead_letter;
        std::string dead_letter_suffix = ":dlq";          ///< Dead-letter channel = channel + suffix.
        std::shared_ptr<const Clock> clock;               ///< Time recorded on dead letters and histories, and
                                                          ///< of maxElapsed and expiry (null = system clock).
        /// Attempts kept in a message's history (`failpipe-history`) and in its failure record; 0 keeps
        /// none. At most kMaxHistoryLimit. JSON config: `deadLetters.historyLimit`.
        std::size_t history_limit = kDefaultHistoryLimit;
        /// Seconds since the first failure after which no middleware retries a message: it goes to
        /// the final behaviour. Unset or 0 = no limit. JSON config: top-level `maxElapsed`.
        std::optional<Seconds> default_max_elapsed;
        /// The same by channel (the channel the message fails on); overrides the default, 0 = no
        /// limit for that channel. JSON config: top-level `maxElapsed` as an object (channel →
        /// seconds, `"default"` for the others).
        std::map<std::string, Seconds> max_elapsed;
        /// A storm guard (null = none): when a middleware decides to retry earlier than its maximum
        /// delay and the budget of the message's origin channel is spent, the retry waits the
        /// maximum delay instead (never dropped, never dead-lettered for it). Also observe the
        /// worker with it, so it counts first attempts. JSON config: `retryBudget`.
        std::shared_ptr<RetryBudget> retry_budget;
    };

    /// @brief An empty dispatcher: every failure goes to the final behaviour (dead-letter).
    FailureMiddlewareDispatcher();
    explicit FailureMiddlewareDispatcher(Options options);

    /// @brief Counts the failure in the message's metadata (`failpipe-failure`.`failures`), runs the
    /// pipeline selected by @p request's channel and returns the decided request. Under `rethrow`, the
    /// returned request's decision says `rethrow` and it stages nothing.
    ///
    /// Throws failpipe::Error when a middleware decided to send or dead-letter the message but staged
    /// no push, or staged an invalid one (empty channel, negative or non-finite delay): settling that
    /// would lose the message. Exceptions of middlewares pass through.
    FailureHandlingRequest dispatch(FailureHandlingRequest request, const Failure& failure) const;

    /// @brief As above at time @p now (explain() simulates time with it). Besides counting the
    /// failure it records the first and last failure times and the message's origin, skips the
    /// pipeline when maxElapsed has passed since the first failure (the decision's `note` says so),
    /// and appends the attempt to the history of the message it sends again (a dead letter's entry
    /// is added by DeadLetterMiddleware::dead_letter).
    FailureHandlingRequest dispatch(FailureHandlingRequest request, const Failure& failure, TimePoint now) const;

    /// @brief Dead-letters @p request with @p reason at @p now, to dead_letter_channel() of its
    /// channel, with this dispatcher's history limit: the worker's path for poison, max-deliveries,
    /// pipeline-error, settle-error and expired.
    FailureHandlingRequest dead_letter(FailureHandlingRequest request, const Failure& failure, std::string_view reason,
                                       const std::string& middleware_id, TimePoint now) const;

    /// @brief The maxElapsed that applies on @p channel, if any.
    std::optional<Seconds> max_elapsed_for(const std::string& channel) const;

    /// @brief The dispatcher's time (its clock, or the system clock).
    TimePoint now() const;

    /// @brief True when the pipeline of @p channel holds a middleware other than the built-ins, i.e.
    /// one that might throw. The worker keeps a copy of the message only then.
    bool runs_custom_middleware(const std::string& channel) const;

    /// @brief The pipeline that runs for @p channel (its own when non-empty, else the default).
    const FailurePipeline& pipeline_for(const std::string& channel) const;
    /// @brief The dead-letter channel of @p channel.
    std::string dead_letter_channel(const std::string& channel) const;

    const Options& options() const noexcept { return options_; }

    /// @brief A copy without the retry budget (explain simulates the schedule without spending it).
    FailureMiddlewareDispatcher without_retry_budget() const;

    /// @brief A copy with other middlewares (Yii's withMiddlewares).
    FailureMiddlewareDispatcher with_pipelines(FailurePipeline default_pipeline,
                                               std::map<std::string, FailurePipeline> pipelines) const;

private:
    Options options_;
    bool default_is_custom_ = false;
    std::map<std::string, bool, std::less<>> custom_by_channel_;
};

}  // namespace failpipe
