// The string names of failpipe's enums, as they appear in config, logs and tool output.
#include "failpipe/adapter.hpp"
#include "failpipe/error_class.hpp"
#include "failpipe/failure_handling_request.hpp"
#include "failpipe/failure_middleware_dispatcher.hpp"
#include "failpipe/jitter.hpp"

namespace failpipe {

std::string_view to_string(MessageState state) noexcept {
    switch (state) {
        case MessageState::ready: return "ready";
        case MessageState::delayed: return "delayed";
        case MessageState::reserved: return "reserved";
        case MessageState::not_found: break;
    }
    return "not-found";
}

std::string_view to_string(ErrorClass error_class) noexcept {
    switch (error_class) {
        case ErrorClass::transient: return "transient";
        case ErrorClass::permanent: return "permanent";
        case ErrorClass::unknown: break;
    }
    return "unknown";
}

std::optional<ErrorClass> parse_error_class(std::string_view name) noexcept {
    if (name == "transient") return ErrorClass::transient;
    if (name == "permanent") return ErrorClass::permanent;
    if (name == "unknown") return ErrorClass::unknown;
    return std::nullopt;
}

std::string_view to_string(FailureAction action) noexcept {
    switch (action) {
        case FailureAction::send_again: return "send-again";
        case FailureAction::delay: return "delay";
        case FailureAction::dead_letter: return "dead-letter";
        case FailureAction::drop: return "drop";
        case FailureAction::rethrow: break;
    }
    return "rethrow";
}

std::string_view to_string(FinalBehavior behavior) noexcept {
    switch (behavior) {
        case FinalBehavior::rethrow: return "rethrow";
        case FinalBehavior::drop: return "drop";
        case FinalBehavior::dead_letter: break;
    }
    return "dead-letter";
}

std::optional<FinalBehavior> parse_final_behavior(std::string_view name) noexcept {
    if (name == "dead-letter") return FinalBehavior::dead_letter;
    if (name == "rethrow") return FinalBehavior::rethrow;
    if (name == "drop") return FinalBehavior::drop;
    return std::nullopt;
}

std::string_view to_string(Jitter jitter) noexcept {
    switch (jitter) {
        case Jitter::full: return "full";
        case Jitter::equal: return "equal";
        case Jitter::decorrelated: return "decorrelated";
        case Jitter::none: break;
    }
    return "none";
}

std::optional<Jitter> parse_jitter(std::string_view name) noexcept {
    if (name == "none") return Jitter::none;
    if (name == "full") return Jitter::full;
    if (name == "equal") return Jitter::equal;
    if (name == "decorrelated") return Jitter::decorrelated;
    return std::nullopt;
}

}  // namespace failpipe
