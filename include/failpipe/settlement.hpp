/// @file settlement.hpp
/// @brief What a delivery ends in: its acknowledgement plus every push it caused, applied in one atomic step.
#pragma once

#include <vector>

#include "failpipe/outgoing_message.hpp"

namespace failpipe {

/// @brief The acknowledgement of a delivery together with the pushes it staged: a retry, a dead
/// letter, the handler's follow-up messages. An adapter applies all of it or none of it.
struct Settlement {
    std::vector<OutgoingMessage> pushes;
};

struct Delivery;

/// @brief One settle of BrokerAdapter::settle_batch(): a delivery and what it ends in. Both are
/// borrowed; an adapter may give ids in place to pushes without one, so the same items can be sent again.
struct SettleItem {
    const Delivery* delivery = nullptr;
    Settlement* settlement = nullptr;
};

}  // namespace failpipe
