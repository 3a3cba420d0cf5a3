// Loops of dead-letter channels among the configured pipelines: refused at load.
#pragma once

#include <string>
#include <vector>

#include "failpipe/config.hpp"
#include "failpipe/config_reader.hpp"

namespace failpipe::detail {

/// One issue for every loop of dead-letter steps in @p config that a message failing the same way
/// every time would go round without end: channel A's pipeline dead-letters to B, B's to A (or a
/// longer ring, or through the final handler's `C:dlq`). Only dead-letter steps count: send-again
/// and exponential-delay stop after maxAttempts (their counters travel with the message), so a ring
/// through them ends. A channel is consumed when it has a pipeline of its own or is one of
/// `worker.channels`; others are taken to rest. The problem's path is the `queue` key of a step of the
/// ring; its message names the channels in order. Needs the suffix set on config.dispatcher.
void check_dead_letter_loops(const Config& config, std::vector<ConfigIssue>& issues);

}  // namespace failpipe::detail
