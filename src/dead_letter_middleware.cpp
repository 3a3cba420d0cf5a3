#include "failpipe/dead_letter_middleware.hpp"

#include "failpipe/failure_record.hpp"
#include "failpipe/metadata_keys.hpp"
#include "failure_record.hpp"
#include "metadata.hpp"

namespace failpipe {

DeadLetterMiddleware::DeadLetterMiddleware(std::string id, std::string queue, ErrorClassSet on, std::string suffix,
                                           std::shared_ptr<const Clock> clock)
    : id_(std::move(id)),
      queue_(std::move(queue)),
      on_(on),
      suffix_(std::move(suffix)),
      clock_(clock ? std::move(clock) : std::make_shared<SystemClock>()) {}

std::string DeadLetterMiddleware::target_for(const std::string& channel, const std::string& dispatcher_suffix) const {
    // A queue naming the channel the message failed on would hand it back to its consumers, to fail
    // and be "dead-lettered" there again without end: it goes to the channel's dead letters instead.
    if (!queue_.empty() && queue_ != channel) return queue_;
    return channel + (suffix_.empty() ? dispatcher_suffix : suffix_);
}

std::optional<std::vector<MiddlewareTarget>> DeadLetterMiddleware::targets(const std::string& dead_letter_suffix) const {
    const std::string& suffix = suffix_.empty() ? dead_letter_suffix : suffix_;
    if (!queue_.empty()) return std::vector<MiddlewareTarget>{{queue_, "", true}};
    return std::vector<MiddlewareTarget>{{"", suffix, true}};
}

FailureHandlingRequest DeadLetterMiddleware::handle(FailureHandlingRequest request, const Failure& failure,
                                                    const FailureHandlerInterface& next) const {
    if (!on_.matches(failure.error_class)) return next.handle(std::move(request), failure);
    std::string target = target_for(request.channel(), request.dead_letter_suffix());
    return dead_letter(std::move(request), failure, id_, target, "failure", clock_->now());
}

namespace {

// The hops of @p message counting this dead letter (saturating: the count comes from anyone who can
// write a message, and only its size matters).
long long count_hop(Message& message) {
    if (!message.metadata.is_object()) message.metadata = nlohmann::json::object();
    const std::string key(metadata_keys::dead_letter_hops);
    const long long hops = detail::next_count(detail::find_member(&message.metadata, key));
    message.metadata[key] = hops;
    return hops;
}

std::string joined(std::string first, const std::string& second) {
    if (first.empty()) return second;
    if (second.empty()) return first;
    return first + "; " + second;
}

}  // namespace

FailureHandlingRequest DeadLetterMiddleware::dead_letter(FailureHandlingRequest request, const Failure& failure,
                                                         const std::string& middleware_id, const std::string& target,
                                                         std::string_view reason, TimePoint now) {
    Message message = request.take_message();
    const long long hops = count_hop(message);
    // Dead-letter channels that are consumed and dead-letter onwards can form a loop (A to B and B
    // to A, or longer); the self-loop is caught in target_for. Past kMaxHops the message rests where
    // target_for rests a self-loop: in the dead letters of the channel it failed on. Its reason stays.
    std::string to = target;
    std::string loop_note;
    if (hops > kMaxHops) {
        to = request.channel() + request.dead_letter_suffix();
        loop_note = "dead-lettered " + std::to_string(hops) + " times since it was pushed or replayed (more than " +
                    std::to_string(kMaxHops) + "): a loop of dead-letter channels; it rests in " + to +
                    (to == target ? "" : " instead of going on to " + target);
    }
    // The history's last entry says why it ended here: the dispatcher's note (maxElapsed), else
    // the reason when it is not a plain handler failure.
    std::string note = request.note();
    if (note.empty() && reason != dead_letter_reasons::failure) note = std::string(reason);
    detail::append_history(message,
                           detail::history_entry(now, request.channel(), middleware_id, to_string(FailureAction::dead_letter),
                                                 Seconds{0.0}, failure, std::nullopt, joined(note, loop_note)),
                           request.history_limit());
    const std::string record_note = joined(request.note(), loop_note);
    nlohmann::json record =
        detail::failure_record(message, failure, reason, middleware_id, request.channel(), now, record_note);
    record["hops"] = hops;
    if (!message.metadata.is_object()) message.metadata = nlohmann::json::object();
    message.metadata[std::string(metadata_keys::dead_letter)] = std::move(record);
    Decision decision;
    decision.middleware = middleware_id;
    decision.action = FailureAction::dead_letter;
    decision.to = to;
    decision.note = record_note;
    request.stage(OutgoingMessage{to, std::move(message), Seconds{0.0}});
    request.decide(std::move(decision));
    return request;
}

}  // namespace failpipe
