#include "broker.hpp"

#include <failpipe/error.hpp>
#include <failpipe/memory/in_memory_adapter.hpp>
#if FAILPIPE_HAVE_REDIS
#include <failpipe/redis/redis_adapter.hpp>
#endif

#include <stdexcept>

namespace payments {

std::string redacted(const std::string& url) {
    const auto at = url.find('@');
    const auto scheme = url.find("://");
    if (at == std::string::npos || scheme == std::string::npos) return url;
    return url.substr(0, scheme + 3) + "***" + url.substr(at);
}

namespace {

Broker open_memory(const failpipe::Config& config, const std::string& first_level) {
    failpipe::InMemoryAdapter::Options memory;
    memory.visibility_timeout = config.visibility_timeout;
    memory.max_message_bytes = config.max_message_bytes;
    auto adapter = std::make_shared<failpipe::InMemoryAdapter>(memory);
    Broker broker;
    broker.push_raw = [adapter, first_level](const std::string& bytes) { adapter->push_raw(first_level, bytes); };
    broker.adapter = adapter;
    broker.info["adapter"] = "the in-memory adapter";
    return broker;
}

#if FAILPIPE_HAVE_REDIS
Broker open_redis(const Options& options, const failpipe::Config& config, const std::string& first_level,
                  std::size_t threads) {
    Broker broker;
    failpipe::RedisAdapter::Options redis;
    if (options.redis_url.empty()) {
        broker.server = std::make_unique<PrivateRedis>();
        redis.url = broker.server->url();
    } else {
        redis.url = options.redis_url;
    }
    // A prefix of its own every run: old keys of earlier runs never meet this one.
    redis.key_prefix =
        options.prefix.empty() ? "failpipe-payments-" + failpipe::generate_message_id().substr(0, 12) : options.prefix;
    redis.visibility_timeout = config.visibility_timeout;
    redis.max_message_bytes = config.max_message_bytes;
    redis.pool_size = threads + 4;
    std::shared_ptr<failpipe::RedisAdapter> adapter;
    try {
        // The config's "keyLayout" and "durability" (or the URL's ?keyLayout=, ?durability=): with
        // "groups", each shard group's keys under {prefix:group}; with "replicas", a WAIT after writes.
        redis = failpipe::RedisAdapter::with_config(std::move(redis), config);
        adapter = std::make_shared<failpipe::RedisAdapter>(redis);
    } catch (const failpipe::InvalidArgumentError& e) {
        throw BadRedisUrl(std::string("--redis: ") + e.what());  // the URL is parsed here, before any connection
    }
    try {
        adapter->ping();
    } catch (const failpipe::ConnectionError& e) {
        throw std::runtime_error("cannot reach Redis at " + redacted(redis.url) + ": " + e.what() +
                                 "\n(without a URL, --redis starts a redis-server of its own)");
    }
    broker.push_raw = [adapter, first_level](const std::string& bytes) { adapter->push_raw(first_level, bytes); };
    broker.adapter = adapter;
    broker.info["adapter"] = broker.server ? "a private redis-server (" + redis.url + ", pid " +
                                                 std::to_string(broker.server->pid()) + ")"
                                           : "Redis at " + redacted(redis.url);
    broker.info["redisPrefix"] = redis.key_prefix;
    broker.info["redisUrl"] = redacted(broker.server ? redis.url : options.redis_url);
    broker.info["keyLayout"] = std::string(failpipe::to_string(adapter->options().key_layout.value_or(failpipe::KeyLayout::prefix)));
    broker.info["privateRedis"] = broker.server != nullptr;
    return broker;
}
#endif

}  // namespace

Broker open_broker(const Options& options, const failpipe::Config& config, const std::string& first_level,
                   std::size_t threads) {
    if (!options.redis) return open_memory(config, first_level);
#if FAILPIPE_HAVE_REDIS
    return open_redis(options, config, first_level, threads);
#else
    (void)threads;
    throw std::runtime_error("--redis: this build has no Redis adapter (libhiredis-dev)");
#endif
}

void require_empty(failpipe::AdapterInterface& adapter, const std::vector<std::string>& levels,
                   const std::string& dead_letter_suffix) {
    for (const auto& level : levels) {
        for (const auto& name : {level, level + dead_letter_suffix}) {
            if (const auto held = adapter.depth(name).total(); held != 0) {
                throw std::runtime_error("channel \"" + name + "\" already holds " + std::to_string(held) +
                                         " messages (an earlier run under this --prefix?): give another --prefix, "
                                         "or none for a new one");
            }
        }
    }
}

}  // namespace payments
