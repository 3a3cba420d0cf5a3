// Durability "replicas": after a round trip that wrote (settles, releases, pushes), one `WAIT
// replicas timeout` on the same connection, so that one WAIT covers every operation the round trip
// carried. Also the URL's query parameters that set it (`?durability=replicas&replicas=1&waitMs=100`),
// so every tool that takes a Redis URL takes them with no flag of its own.
#pragma once

#include <chrono>
#include <string_view>

#include "connection.hpp"
#include "failpipe/redis/redis_adapter.hpp"

namespace failpipe::detail::redis {

/// What WAIT asks for. replicas 0: durability "master", no WAIT.
struct ReplicaQuorum {
    long long replicas = 0;
    long long timeout_ms = 0;
    std::chrono::milliseconds command_timeout{0};  ///< the connection's usual bound, WAIT's is added to it
    bool enabled() const noexcept { return replicas > 0; }
};

/// The quorum of (checked) @p options.
ReplicaQuorum replica_quorum(const RedisAdapter::Options& options);

/// @p options with the durability settings of its URL's query applied (they win over the fields),
/// and the URL without them. Throws InvalidArgumentError (URL redacted) for an unknown parameter or
/// a bad value; checks durability_replicas and durability_timeout.
RedisAdapter::Options with_url_durability(RedisAdapter::Options options);

/// Sends WAIT on @p connection (which made the writes) and throws DurabilityError when fewer
/// replicas than asked confirm them within the timeout. @p what names the writes in the message.
void confirm_replicas(Connection& connection, const ReplicaQuorum& quorum, std::string_view what);

}  // namespace failpipe::detail::redis
