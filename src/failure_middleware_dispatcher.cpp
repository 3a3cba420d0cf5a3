#include "failpipe/failure_middleware_dispatcher.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "failpipe/dead_letter_middleware.hpp"
#include "failpipe/exponential_delay_middleware.hpp"
#include "failpipe/send_again_middleware.hpp"
#include "failpipe/error.hpp"
#include "failpipe/metadata_keys.hpp"
#include "failpipe/retry_budget.hpp"
#include "builtin_middlewares.hpp"
#include "failure_record.hpp"
#include "metadata.hpp"

namespace failpipe {
namespace {

// The "next" handed to each middleware: a position in the pipeline. Lives on the stack, so
// running a pipeline allocates nothing.
class PipelineCursor final : public FailureHandlerInterface {
public:
    PipelineCursor(const FailurePipeline& pipeline, std::size_t position, const FailureMiddlewareDispatcher& dispatcher,
                   TimePoint now)
        : pipeline_(pipeline), position_(position), dispatcher_(dispatcher), now_(now) {}

    FailureHandlingRequest handle(FailureHandlingRequest request, const Failure& failure) const override {
        if (position_ < pipeline_.size()) {
            return pipeline_[position_]->handle(std::move(request), failure,
                                                PipelineCursor(pipeline_, position_ + 1, dispatcher_, now_));
        }
        return finish(std::move(request), failure);
    }

    FailureHandlingRequest finish(FailureHandlingRequest request, const Failure& failure) const {
        const auto& options = dispatcher_.options();
        switch (options.final_behavior) {
            case FinalBehavior::dead_letter: {
                // The target is computed before the call: argument evaluation order is unspecified,
                // and the request is moved into the call.
                std::string target = dispatcher_.dead_letter_channel(request.channel());
                return DeadLetterMiddleware::dead_letter(std::move(request), failure, "final", target,
                                                         dead_letter_reasons::failure, now_);
            }
            case FinalBehavior::drop: {
                Decision decision;
                decision.middleware = "final";
                decision.action = FailureAction::drop;
                decision.note = request.note();
                request.take_message();
                request.decide(std::move(decision));
                return request;
            }
            case FinalBehavior::rethrow: break;
        }
        Decision decision;
        decision.middleware = "final";
        decision.action = FailureAction::rethrow;
        decision.note = request.note();
        request.decide(std::move(decision));
        return request;
    }

private:
    const FailurePipeline& pipeline_;
    std::size_t position_;
    const FailureMiddlewareDispatcher& dispatcher_;
    TimePoint now_;
};

void check_pipeline(const FailurePipeline& pipeline, const std::string& name) {
    for (const auto& middleware : pipeline) {
        if (!middleware) throw InvalidArgumentError("pipeline \"" + name + "\" holds a null middleware");
    }
}

bool has_custom(const FailurePipeline& pipeline) {
    for (const auto& middleware : pipeline) {
        if (!detail::is_builtin_middleware(*middleware)) return true;
    }
    return false;
}

void check_max_elapsed(Seconds limit, const std::string& where) {
    if (!std::isfinite(limit.count()) || limit.count() < 0) {
        throw InvalidArgumentError("maxElapsed of " + where + " must be a finite number of seconds >= 0, " +
                                   std::to_string(limit.count()) + " given");
    }
}

std::string seconds_text(double seconds) {
    std::ostringstream out;
    out << seconds;
    return out.str();
}

// Adds the attempt to the history of the message a retry carries on (the one with the failed
// message's id; else the first push, for a custom middleware that renamed it).
void record_retry(FailureHandlingRequest& result, const std::string& id, const std::string& channel,
                  const Failure& failure, TimePoint now, std::size_t limit) {
    const Decision& decision = *result.decision();
    if (decision.action != FailureAction::send_again && decision.action != FailureAction::delay) return;
    auto& pushes = result.pushes();
    bool found = false;
    for (auto& push : pushes) {
        if (push.message.id != id) continue;
        found = true;
        detail::append_history(push.message,
                               detail::history_entry(now, channel, decision.middleware, to_string(decision.action),
                                                     push.delay, failure, decision.retry_after, decision.note),
                               limit);
    }
    if (!found && !pushes.empty()) {
        detail::append_history(pushes.front().message,
                               detail::history_entry(now, channel, decision.middleware, to_string(decision.action),
                                                     pushes.front().delay, failure, decision.retry_after, decision.note),
                               limit);
    }
}

// A settle with these pushes would lose the message or fail in the adapter: refuse it here, where
// the worker can still dead-letter the message it kept.
void check_result(const FailureHandlingRequest& result) {
    const Decision& decision = *result.decision();
    const bool moves = decision.action == FailureAction::send_again || decision.action == FailureAction::delay ||
                       decision.action == FailureAction::dead_letter;
    if (moves && result.pushes().empty()) {
        throw Error("failure middleware \"" + decision.middleware + "\" decided " + std::string(to_string(decision.action)) +
                    " but staged no push: settling would lose the message");
    }
    for (const auto& push : result.pushes()) {
        if (push.channel.empty() || !std::isfinite(push.delay.count()) || push.delay.count() < 0) {
            throw Error("failure middleware \"" + decision.middleware +
                        "\" staged an invalid push (empty channel, or a delay that is negative or not finite)");
        }
    }
}

// The channel a retry is charged to: where the message first failed (its origin), so retry levels
// on channels of their own share the budget of the channel whose first attempts they retry.
std::string budget_channel(const Message& message, const std::string& channel) {
    auto origin = message.metadata.find(metadata_keys::origin);
    if (origin != message.metadata.end() && origin->is_object()) {
        auto name = origin->find("channel");
        if (name != origin->end() && name->is_string() && !name->get_ref<const std::string&>().empty())
            return name->get<std::string>();
    }
    return channel;
}

// Past the budget, an early retry waits its middleware's maximum delay (or the budget's fallback):
// the push is delayed, never removed, so the message is neither dropped nor dead-lettered for it.
void apply_retry_budget(FailureHandlingRequest& result, RetryBudget& budget, const FailurePipeline& pipeline,
                        const std::string& id, const std::string& charged_to) {
    const Decision& decided = *result.decision();
    if (decided.action != FailureAction::send_again && decided.action != FailureAction::delay) return;
    const RetryBudgetOptions* options = budget.options_for(charged_to);
    if (!options) return;
    std::optional<Seconds> maximum;
    for (const auto& middleware : pipeline) {
        if (middleware->id() == decided.middleware) {
            maximum = middleware->maximum_delay();
            break;
        }
    }
    const Seconds ceiling = maximum.value_or(options->fallback_delay);
    if (!(decided.delay < ceiling)) return;  // not an early retry: the budget does not count it
    if (budget.try_retry(charged_to)) return;

    auto& pushes = result.pushes();
    auto push = std::find_if(pushes.begin(), pushes.end(), [&](const OutgoingMessage& p) { return p.message.id == id; });
    if (push == pushes.end()) push = pushes.begin();
    if (push->delay < ceiling) push->delay = ceiling;

    Decision decision = decided;
    std::ostringstream note;
    note << "retry budget of channel \"" << charged_to << "\" spent: waits the maximum delay of " << ceiling.count()
         << " s instead of " << decided.delay.count() << " s";
    decision.note = note.str();
    decision.delay = decision.delay_min = decision.delay_max = push->delay;
    decision.jittered = false;
    decision.action = FailureAction::delay;
    decision.budget_exhausted = true;
    result.decide(std::move(decision));
}

}  // namespace

FailureMiddlewareDispatcher::FailureMiddlewareDispatcher() : FailureMiddlewareDispatcher(Options{}) {}

FailureMiddlewareDispatcher::FailureMiddlewareDispatcher(Options options) : options_(std::move(options)) {
    check_pipeline(options_.default_pipeline, "default");
    for (const auto& [name, pipeline] : options_.pipelines) check_pipeline(pipeline, name);
    if (options_.dead_letter_suffix.empty()) {
        throw InvalidArgumentError("the dead-letter suffix must not be empty: dead letters would return to their channel");
    }
    if (options_.history_limit > kMaxHistoryLimit) {
        throw InvalidArgumentError("the history limit must be at most " + std::to_string(kMaxHistoryLimit) + ", " +
                                   std::to_string(options_.history_limit) + " given");
    }
    if (options_.default_max_elapsed) check_max_elapsed(*options_.default_max_elapsed, "the default");
    for (const auto& [name, limit] : options_.max_elapsed) check_max_elapsed(limit, "channel \"" + name + "\"");
    default_is_custom_ = has_custom(options_.default_pipeline);
    for (const auto& [name, pipeline] : options_.pipelines) custom_by_channel_[name] = has_custom(pipeline);
}

bool FailureMiddlewareDispatcher::runs_custom_middleware(const std::string& channel) const {
    auto it = options_.pipelines.find(channel);
    if (it != options_.pipelines.end() && !it->second.empty()) return custom_by_channel_.find(channel)->second;
    return default_is_custom_;
}

const FailurePipeline& FailureMiddlewareDispatcher::pipeline_for(const std::string& channel) const {
    // Yii: the channel's own pipeline only when it is non-empty; no fall-through to the default.
    auto it = options_.pipelines.find(channel);
    if (it != options_.pipelines.end() && !it->second.empty()) return it->second;
    return options_.default_pipeline;
}

std::string FailureMiddlewareDispatcher::dead_letter_channel(const std::string& channel) const {
    return channel + options_.dead_letter_suffix;
}

TimePoint FailureMiddlewareDispatcher::now() const {
    return options_.clock ? options_.clock->now() : std::chrono::system_clock::now();
}

std::optional<Seconds> FailureMiddlewareDispatcher::max_elapsed_for(const std::string& channel) const {
    auto it = options_.max_elapsed.find(channel);
    std::optional<Seconds> limit = it != options_.max_elapsed.end() ? std::optional<Seconds>(it->second)
                                                                    : options_.default_max_elapsed;
    if (limit && !(limit->count() > 0)) return std::nullopt;
    return limit;
}

FailureHandlingRequest FailureMiddlewareDispatcher::dispatch(FailureHandlingRequest request, const Failure& failure) const {
    return dispatch(std::move(request), failure, now());
}

FailureHandlingRequest FailureMiddlewareDispatcher::dispatch(FailureHandlingRequest request, const Failure& failure,
                                                             TimePoint now) const {
    const std::string id = request.message().id;
    const std::string channel = request.channel();
    detail::note_failure(request.message(), channel, now);
    const std::string charged_to = options_.retry_budget ? budget_channel(request.message(), channel) : std::string();
    if (request.dead_letter_suffix() != options_.dead_letter_suffix) request.set_dead_letter_suffix(options_.dead_letter_suffix);
    request.set_history_limit(options_.history_limit);

    PipelineCursor cursor(pipeline_for(channel), 0, *this, now);
    if (auto limit = max_elapsed_for(channel)) {
        const auto first = detail::first_failure(request.message()).value_or(now);
        const double elapsed = std::chrono::duration<double>(now - first).count();
        if (elapsed > limit->count()) {
            request.set_note("maxElapsed " + seconds_text(limit->count()) + " s passed since the first failure at " +
                             detail::iso8601_utc(first) + " (" + seconds_text(elapsed) + " s ago): no more retries");
            FailureHandlingRequest result = cursor.finish(std::move(request), failure);
            check_result(result);
            return result;
        }
    }
    FailureHandlingRequest result = cursor.handle(std::move(request), failure);
    if (!result.handled()) {
        // A custom middleware returned without deciding. If it staged pushes, those are its decision;
        // otherwise the final behaviour applies, so the message is never silently lost.
        if (result.pushes().empty()) return cursor.finish(std::move(result), failure);
        Decision decision;
        decision.middleware = "custom";
        decision.to = result.pushes().front().channel;
        decision.delay = decision.base_delay = decision.delay_min = decision.delay_max = result.pushes().front().delay;
        decision.action = decision.delay.count() > 0 ? FailureAction::delay : FailureAction::send_again;
        result.decide(std::move(decision));
    }
    check_result(result);
    if (options_.retry_budget)
        apply_retry_budget(result, *options_.retry_budget, pipeline_for(channel), id, charged_to);
    record_retry(result, id, channel, failure, now, options_.history_limit);
    return result;
}

FailureHandlingRequest FailureMiddlewareDispatcher::dead_letter(FailureHandlingRequest request, const Failure& failure,
                                                                std::string_view reason, const std::string& middleware_id,
                                                                TimePoint now) const {
    request.set_dead_letter_suffix(options_.dead_letter_suffix);
    request.set_history_limit(options_.history_limit);
    std::string target = dead_letter_channel(request.channel());
    return DeadLetterMiddleware::dead_letter(std::move(request), failure, middleware_id, target, reason, now);
}

FailureMiddlewareDispatcher FailureMiddlewareDispatcher::without_retry_budget() const {
    Options options = options_;
    options.retry_budget = nullptr;
    return FailureMiddlewareDispatcher(std::move(options));
}

FailureMiddlewareDispatcher FailureMiddlewareDispatcher::with_pipelines(
    FailurePipeline default_pipeline, std::map<std::string, FailurePipeline> pipelines) const {
    Options options = options_;
    options.default_pipeline = std::move(default_pipeline);
    options.pipelines = std::move(pipelines);
    return FailureMiddlewareDispatcher(std::move(options));
}

}  // namespace failpipe
