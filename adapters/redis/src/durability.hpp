// Durability "replicas" from the URL's query (`?durability=replicas&replicas=1&waitMs=100`), so
// every tool that takes a Redis URL takes it with no flag of its own. The WAIT itself is
// write_combiner.hpp's wait_for_replicas.
#pragma once

#include "failpipe/redis/redis_adapter.hpp"

namespace failpipe::detail::redis {

/// @p options with the durability settings of its URL's query applied (they win over the fields),
/// and the URL without them. Throws InvalidArgumentError (URL redacted) for an unknown parameter or
/// a bad value; checks durability_replicas and durability_timeout.
RedisAdapter::Options with_url_durability(RedisAdapter::Options options);

}  // namespace failpipe::detail::redis
