// The run's broker: the in-memory adapter, Redis at a URL, or a private redis-server.
#pragma once

#include <failpipe/adapter.hpp>
#include <failpipe/config.hpp>

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "options.hpp"
#if FAILPIPE_HAVE_REDIS
#include "private_redis.hpp"
#endif

namespace payments {

struct Broker {
#if FAILPIPE_HAVE_REDIS
    std::unique_ptr<PrivateRedis> server;  // declared first: it outlives the adapter
#endif
    std::shared_ptr<failpipe::AdapterInterface> adapter;
    /// Stores bytes as they are (poison) in the first level.
    std::function<void(const std::string&)> push_raw;
    /// For the report's `run`: `adapter`, and on Redis `redisPrefix`, `redisUrl` (password as ***),
    /// `keyLayout`, `privateRedis`.
    nlohmann::json info = nlohmann::json::object();
};

/// Opens the broker @p options ask for, with the config's visibility timeout and message size.
/// Throws std::runtime_error with a message for the user (an unreachable Redis is named without its
/// password).
/// A --redis URL that is not one (exit 2, a bad argument), unlike one that cannot be reached (exit 1).
struct BadRedisUrl : std::runtime_error {
    using std::runtime_error::runtime_error;
};

Broker open_broker(const Options& options, const failpipe::Config& config, const std::string& first_level,
                   std::size_t threads);

/// Throws std::runtime_error when a level or its dead-letter channel already holds messages (a
/// --prefix of an earlier run): the audit reads the dead-letter channels and must find this run's only.
void require_empty(failpipe::AdapterInterface& adapter, const std::vector<std::string>& levels,
                   const std::string& dead_letter_suffix);

/// @p url with its user-info replaced by `***`.
std::string redacted(const std::string& url);

}  // namespace payments
