#include "failpipe/failure_middleware_dispatcher.hpp"

#include <cmath>

#include "failpipe/dead_letter_middleware.hpp"
#include "failpipe/exponential_delay_middleware.hpp"
#include "failpipe/send_again_middleware.hpp"
#include "failpipe/error.hpp"
#include "failpipe/metadata_keys.hpp"
#include "builtin_middlewares.hpp"
#include "metadata.hpp"

namespace failpipe {
namespace {

const std::string kFailuresKey(metadata_keys::failures);

// The "next" handed to each middleware: a position in the pipeline. Lives on the stack, so
// running a pipeline allocates nothing.
class PipelineCursor final : public FailureHandlerInterface {
public:
    PipelineCursor(const FailurePipeline& pipeline, std::size_t position, const FailureMiddlewareDispatcher& dispatcher)
        : pipeline_(pipeline), position_(position), dispatcher_(dispatcher) {}

    FailureHandlingRequest handle(FailureHandlingRequest request, const Failure& failure) const override {
        if (position_ < pipeline_.size()) {
            return pipeline_[position_]->handle(std::move(request), failure,
                                                PipelineCursor(pipeline_, position_ + 1, dispatcher_));
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
                TimePoint now = options.clock ? options.clock->now() : std::chrono::system_clock::now();
                return DeadLetterMiddleware::dead_letter(std::move(request), failure, "final", target, "failure", now);
            }
            case FinalBehavior::drop: {
                Decision decision;
                decision.middleware = "final";
                decision.action = FailureAction::drop;
                request.take_message();
                request.decide(std::move(decision));
                return request;
            }
            case FinalBehavior::rethrow: break;
        }
        Decision decision;
        decision.middleware = "final";
        decision.action = FailureAction::rethrow;
        request.decide(std::move(decision));
        return request;
    }

private:
    const FailurePipeline& pipeline_;
    std::size_t position_;
    const FailureMiddlewareDispatcher& dispatcher_;
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

}  // namespace

FailureMiddlewareDispatcher::FailureMiddlewareDispatcher() : FailureMiddlewareDispatcher(Options{}) {}

FailureMiddlewareDispatcher::FailureMiddlewareDispatcher(Options options) : options_(std::move(options)) {
    check_pipeline(options_.default_pipeline, "default");
    for (const auto& [name, pipeline] : options_.pipelines) check_pipeline(pipeline, name);
    if (options_.dead_letter_suffix.empty()) {
        throw InvalidArgumentError("the dead-letter suffix must not be empty: dead letters would return to their channel");
    }
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

FailureHandlingRequest FailureMiddlewareDispatcher::dispatch(FailureHandlingRequest request, const Failure& failure) const {
    auto& meta = detail::failure_meta(request.message());
    auto& failures = meta[kFailuresKey];
    failures = detail::next_count(&failures);
    if (request.dead_letter_suffix() != options_.dead_letter_suffix) request.set_dead_letter_suffix(options_.dead_letter_suffix);

    PipelineCursor cursor(pipeline_for(request.channel()), 0, *this);
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
    return result;
}

FailureMiddlewareDispatcher FailureMiddlewareDispatcher::with_pipelines(
    FailurePipeline default_pipeline, std::map<std::string, FailurePipeline> pipelines) const {
    Options options = options_;
    options.default_pipeline = std::move(default_pipeline);
    options.pipelines = std::move(pipelines);
    return FailureMiddlewareDispatcher(std::move(options));
}

}  // namespace failpipe
