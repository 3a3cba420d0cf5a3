/// @file outcome.hpp
/// @brief Outcome: what became of one delivery.
#pragma once

#include <string_view>

namespace failpipe {

/// @brief What became of one delivery (returned by Worker::process, carried by DeliveryEvent).
enum class Outcome {
    succeeded,      ///< handled and acknowledged
    retried,        ///< failed; settled with a send-again or a delay
    dead_lettered,  ///< moved to a dead-letter channel (failure, poison, max-deliveries, pipeline-error)
    dropped,        ///< failed; acknowledged and discarded under `drop`
    released,       ///< given back to the broker after a delay without counting an attempt (HandlerContext::release)
    settle_failed,  ///< the adapter refused the settle: stale (another delivery's outcome wins), or refused
                    ///< it and its settle-error dead letter too (the broker keeps it; it comes back)
    left_with_broker,  ///< not settled (the pipeline failed and no copy was kept): it comes back after the visibility timeout
};

/// @brief `succeeded`, `retried`, `dead-lettered`, `dropped`, `released`, `settle-failed`, `left-with-broker`.
std::string_view to_string(Outcome outcome) noexcept;

}  // namespace failpipe
