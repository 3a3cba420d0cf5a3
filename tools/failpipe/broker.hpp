/// @file broker.hpp
/// @brief What every broker command shares: `--redis URL`, `--prefix P` and `--config FILE` (the
/// key layout and the dead-letter suffix), the connection, and the kinds of channels (plain,
/// dead-letter `C` + deadLetterSuffix, parked `C:parked`).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "args.hpp"
#include "failpipe/channel_stats.hpp"
#include "failpipe/channel_suffixes.hpp"
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

/// @brief Why a push that @p broker's replicas did not confirm (DurabilityError) must not be repeated:
/// `NOT confirmed by N replica(s) within T ms (durability "replicas"), so a failover now could lose
/// it; pushing again stores a second copy: …`, of @p many messages or one (docs/cli.md, exit status 3).
std::string unconfirmed_push(const RedisAdapter& broker, bool many);

/// @brief What a channel is, by its name.
enum class ChannelKind { channel, dead_letter, parked };

/// @brief `channel`, `dead-letter` or `parked`.
std::string_view to_string(ChannelKind kind);

/// @brief How the workers name a channel C's dead-letter channel (C + the config's deadLetterSuffix,
/// `:dlq` by default) and its parked channel (C + `:parked`, which no config changes).
struct ChannelSuffixes {
    std::string dead_letter = ":dlq";
    std::string parked{kParkedSuffix};

    /// @brief The kind of @p name by its suffix. A name that is only a suffix is a channel of its
    /// own; when both suffixes end it (one ends the other), the longer one tells.
    ChannelKind kind(std::string_view name) const;
    /// @brief @p name without its dead-letter or parked suffix.
    std::string base(std::string_view name) const;
    /// @brief The dead-letter channel of @p channel: @p channel + the dead-letter suffix.
    std::string dead_letters_of(std::string_view channel) const;
    /// @brief The same suffixes, for failpipe/channel_stats.hpp.
    ChannelStatsOptions stats_options() const { return {dead_letter, parked}; }
};

/// @brief What `--config FILE` tells a broker command: the config (none without --config) and the
/// suffixes its workers name dead-letter and parked channels with.
struct Deployment {
    std::optional<Config> config;
    ChannelSuffixes suffixes;
    const Config* config_or_null() const { return config ? &*config : nullptr; }
    /// @brief The config's maxMessageBytes (0, no limit, without --config or when it sets none).
    std::size_t max_message_bytes() const { return config ? config->max_message_bytes : 0; }
};


/// @brief The deployment of `--config` (the default suffixes without it). Throws UsageError as
/// broker_config does (the config reader refuses a deadLetterSuffix that clashes with the parked
/// suffix, so the two kinds of channels are always told apart).
Deployment deployment_of(const ParsedArgs& args);

/// @brief connect_broker, in the key layout of @p deployment's config.
std::unique_ptr<RedisAdapter> connect_broker(const ParsedArgs& args, const Deployment& deployment);

}  // namespace failpipe::cli
