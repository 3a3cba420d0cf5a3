// What the Redis adapter declares (docs/adapters.md): every capability, one script per settle.
#include "failpipe/redis/redis_adapter.hpp"

namespace failpipe {

AdapterCapabilities RedisAdapter::capabilities() const {
    AdapterCapabilities capabilities = AdapterCapabilities::all();
    capabilities.max_message_bytes = options().max_message_bytes;
    return capabilities;
}

}  // namespace failpipe
