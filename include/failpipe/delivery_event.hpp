/// @file delivery_event.hpp
/// @brief DeliveryEvent: one structured event per settled delivery, for metrics, logs and users' hooks.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "failpipe/clock.hpp"
#include "failpipe/error_class.hpp"
#include "failpipe/failure_handling_request.hpp"
#include "failpipe/outcome.hpp"

namespace failpipe {

/// @brief What the worker did with one delivery, reported once it is settled (or given up on).
///
/// The views point into the worker's own data and are valid only during the observer call: copy
/// what you keep.
struct DeliveryEvent {
    std::string_view channel;         ///< The channel it was consumed from.
    std::string_view message_type;    ///< The message's handler name (empty for poison).
    std::string_view message_id;
    std::string_view correlation_id;  ///< metadata `correlationId` (the message id when it has none).
    Outcome outcome = Outcome::succeeded;
    std::uint32_t deliveries = 1;     ///< How many times the broker has handed it out.
    bool first_attempt = true;        ///< No handler failure recorded before this delivery.
    bool poison = false;              ///< Undecodable, or redelivered past maxDeliveries.
    bool expired = false;             ///< Reserved after its time to live.

    // Failures (retried, dead_lettered, dropped after a handler threw):
    std::optional<ErrorClass> error_class;  ///< Set when a handler or consume middleware threw.
    std::string_view error_type;
    std::string_view error_message;

    // The decision (retried, dead_lettered, dropped) or the release:
    std::optional<FailureAction> action;  ///< What the failure pipeline decided.
    std::string_view decided_by;  ///< Middleware id (`final`, `worker` for poison/expired), or who released.
    std::string_view target;      ///< The channel the message moves to (retry or dead letter).
    std::string_view reason;      ///< Dead-letter reason (failure, poison, max-deliveries, ...) or release reason.
    Seconds delay{0.0};           ///< Retry or release delay.
    bool budget_exhausted = false;  ///< The retry budget turned an early retry into the maximum delay.

    std::chrono::nanoseconds handler_time{0};  ///< Consume middlewares + handler (0 when it never ran).
    std::optional<Seconds> lateness;           ///< How late a delayed retry ran after its due time.
};

/// @brief Receives one DeliveryEvent per delivery, on the worker's thread, after the delivery is
/// settled. Shared by worker threads: must be thread-safe and fast. An exception it throws is caught
/// by the worker and logged (the first, then every 1000th), never passed on: the delivery is settled
/// already, and the other observers still get the event.
class DeliveryObserver {
public:
    virtual ~DeliveryObserver() = default;
    virtual void on_delivery(const DeliveryEvent& event) = 0;
};

/// @brief An observer from a function (for users who ship events elsewhere). Null for an empty function.
std::shared_ptr<DeliveryObserver> make_delivery_observer(std::function<void(const DeliveryEvent&)> function);

}  // namespace failpipe
