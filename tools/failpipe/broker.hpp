/// @file broker.hpp
/// @brief What every broker command shares: `--redis URL`, `--prefix P` and `--config FILE` (the
/// key layout), the connection, and the kinds of channels (plain, dead-letter `:dlq`, parked `:parked`).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "args.hpp"
#include "failpipe/config.hpp"
#include "failpipe/redis/redis_adapter.hpp"

namespace failpipe::cli {

/// @brief The broker could not be reached. The message names the URL (password as `***`) and the cause.
class BrokerUnreachable : public Error {
public:
    using Error::Error;
};

/// @brief `redis://127.0.0.1:6379`: the broker when neither --redis nor FAILPIPE_REDIS_URL says otherwise.
inline constexpr std::string_view kDefaultRedisUrl = "redis://127.0.0.1:6379";

/// @brief `--redis URL`, `--prefix P` and `--config FILE`, for the options of every broker command.
std::vector<OptionSpec> broker_options();

/// @brief The config of `--config FILE`, or std::nullopt without one. Throws UsageError for a missing
/// file or a config the loader refuses (every problem listed).
std::optional<Config> broker_config(const ParsedArgs& args);

/// @brief The adapter options for --redis (else FAILPIPE_REDIS_URL, else kDefaultRedisUrl),
/// --prefix and the key layout: with `"keyLayout": "groups"` in @p config or `?keyLayout=groups` in
/// the URL, the shard groups of @p config (the workers' config). Throws UsageError for an empty
/// prefix, a bad keyLayout in the URL, a URL asking for groups without a config (the groups are not
/// known), or a URL and a config that name different layouts.
RedisAdapter::Options redis_options(const ParsedArgs& args, const Config* config);

/// @brief redis_options(args, config of --config).
RedisAdapter::Options redis_options(const ParsedArgs& args);

/// @brief An adapter for @p options, not yet connected. Throws UsageError for a malformed URL.
std::unique_ptr<RedisAdapter> make_broker(const RedisAdapter::Options& options);

/// @brief The Redis adapter for --redis (else FAILPIPE_REDIS_URL, else kDefaultRedisUrl),
/// --prefix and the key layout (redis_options), after one round trip to the server. Throws UsageError for a malformed URL or an empty
/// prefix and BrokerUnreachable when the server does not answer.
std::unique_ptr<RedisAdapter> connect_broker(const ParsedArgs& args);

/// @brief What a channel is, by its name.
enum class ChannelKind { channel, dead_letter, parked };

/// @brief `channel`, `dead-letter` or `parked`.
std::string_view to_string(ChannelKind kind);

/// @brief The kind of @p name: `:dlq` marks dead letters, `:parked` parked messages.
ChannelKind channel_kind(std::string_view name);

/// @brief @p name without its `:dlq` or `:parked` suffix.
std::string base_channel(std::string_view name);

inline constexpr std::string_view kDeadLetterSuffix = ":dlq";
inline constexpr std::string_view kParkedSuffix = ":parked";

}  // namespace failpipe::cli
