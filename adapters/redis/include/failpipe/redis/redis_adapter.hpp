/// @file redis_adapter.hpp
/// @brief RedisAdapter: failpipe's broker on Redis (≥ 7.0) — streams, a consumer group per channel,
/// delayed messages in a sorted set, and every settle in one Lua script.
///
/// Thread safety: one RedisAdapter is meant to be shared by many worker threads (and processes on
/// many machines may share one Redis). Every method is safe to call concurrently. Blocking reserves
/// wait on pooled connections of their own; settles, releases and single pushes from concurrent
/// threads are combined into one script call per round trip (group commit).
///
/// Errors: ConnectionError (cannot connect, the connection broke), TimeoutError (no answer within
/// the command timeout), ProtocolError (an error reply or a reply of an unexpected shape; an ACL
/// refusal names the denied command, see docs/redis.md "ACL"),
/// StaleDeliveryError (settle/release of a delivery the adapter already gave back). After a
/// connection error, the next call reconnects on its own. Credentials never appear in errors or logs.
/// See docs/redis.md for the data model.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <atomic>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "failpipe/adapter.hpp"
#include "failpipe/clock.hpp"
#include "failpipe/durability_setting.hpp"
#include "failpipe/prometheus.hpp"
#include "failpipe/shard_groups.hpp"

namespace failpipe {

struct Config;

namespace detail::redis {
class AdapterCore;
class OutboxFigures;
class RelayThread;
class ShardedCores;
}  // namespace detail::redis

/// @brief A failpipe broker on Redis: at-least-once delivery, atomic idempotent settles, crash
/// recovery by visibility timeout, due times from the Redis server's clock.
class RedisAdapter final : public AdapterInterface {
public:
    /// @brief Whether the server is a Redis Cluster (Options::cluster).
    enum class Cluster {
        automatic,  ///< ask the URL's node at the first call (`INFO cluster`)
        yes,        ///< it must be a cluster (a plain Redis is a ProtocolError)
        no,         ///< one server; never ask (exactly the behaviour before cluster support)
    };

    /// @brief When a settle or a push counts as done (Options::durability).
    enum class Durability {
        master,    ///< when the master has applied it (Redis replicates asynchronously: a master that
                   ///< fails right after can lose it; see docs/cluster.md for what that means)
        replicas,  ///< when `WAIT` has also confirmed it on durability_replicas replicas
    };

    /// @brief Where Redis is and how the adapter behaves.
    struct Options {
        /// `redis://[user:password@]host[:port][/db]` (port 6379 and db 0 by default; percent-escapes
        /// allowed in user and password; IPv6 hosts in brackets). For a Redis Cluster, any node's URL,
        /// or several seed nodes: `redis://[user:password@]host1:port1,host2:port2` (docs/cluster.md).
        /// A query `?durability=replicas&replicas=N&waitMs=T` sets the three durability fields (it
        /// wins over them; docs/redis.md, "Durability"); `?keyLayout=prefix|groups` sets key_layout;
        /// any other parameter is an InvalidArgumentError.
        std::string url = "redis://127.0.0.1:6379";
        /// One server or a Redis Cluster: found out from the URL's node by default.
        Cluster cluster = Cluster::automatic;
        /// `replicas`: every round trip that carries settles, releases or pushes ends with one `WAIT
        /// durability_replicas durability_timeout`; fewer confirmations make those calls fail with
        /// DurabilityError, a ConnectionError (they were applied on the master; sending a settle or
        /// release again is safe and confirms it).
        Durability durability = Durability::master;
        /// Replicas that must confirm (durability `replicas`); at least 1.
        std::size_t durability_replicas = 1;
        /// How long WAIT waits for them (added to the command timeout of that round trip).
        Seconds durability_timeout{1.0};
        /// Namespace of every key, wrapped in a hash tag: `{failpipe}:s:<channel>` and so on.
        std::string key_prefix = "failpipe";
        /// Bound of one connection attempt.
        Seconds connect_timeout{2.0};
        /// Bound of one command's round trip (a blocking reserve adds its own wait to it).
        Seconds command_timeout{5.0};
        /// A delivery not settled or released within this long (by the server's clock) is given back
        /// to its channel, counted as a delivery, by any worker's reserve or by reclaim().
        Seconds visibility_timeout{30.0};
        /// Connections for reserves and inspection. Each worker thread blocked in reserve holds one,
        /// so use at least as many as the workers sharing this adapter. Settles, releases and single
        /// pushes use one more connection of their own.
        std::size_t pool_size = 16;
        /// The largest message, encoded, that push and push_batch accept (0 = no limit; config
        /// `maxMessageBytes`). An entry whose bytes are bigger (a foreign producer's, or one pushed
        /// under a higher limit) is handed out by reserve as poison, with its bytes. Settle pushes
        /// (retries, dead letters, follow-ups) are not refused: see docs/limits.md.
        std::size_t max_message_bytes = 0;
        /// Shard groups (failpipe::Config::shard_groups, ShardGroups::derive). Unset: every key under
        /// `{key_prefix}`, as always. Set: each channel's keys under its group's tag
        /// `{key_prefix:group}` (shard_hash_tag), so groups spread over a cluster's masters. A
        /// settle's push to another group's channel (and a move to one) goes to the source group's
        /// outbox in the same atomic step and is published by the outbox relay (docs/cluster.md,
        /// "Several shard groups").
        std::optional<ShardGroups> shard_groups;
        /// Where keys live (the URL's `?keyLayout=` sets it too; the two must agree). Unset: `groups`
        /// when shard_groups is set, else `prefix`. `groups` without shard_groups, and `prefix` with
        /// them, are InvalidArgumentErrors: a layout is never changed behind the caller's back.
        /// After construction, options() says which one is in effect.
        std::optional<KeyLayout> key_layout;
        /// With shard_groups: run the outbox relay on a background thread of this adapter, started by
        /// its first reserve, settle or settle_batch (so a worker process relays; an adapter only
        /// used to push or inspect never starts it) and stopped by the destructor. Turn it off for
        /// short-lived tools; relay_outbox() still relays on demand. Some process with shard_groups
        /// must relay, or follow-ups to other groups wait in the outbox (outbox_lag() shows it).
        bool outbox_relay = true;
        /// The longest an idle relay waits before looking at the outboxes again (a settle of this
        /// adapter that writes to an outbox wakes it at once; this bounds the delay of follow-ups
        /// settled by other processes, and of entries taken over from a relay that died).
        Seconds outbox_poll{1.0};
    };

    /// @brief How far the outbox relay is behind in one shard group (outbox_lag()).
    struct OutboxLag {
        std::string group;            ///< The shard group (the source of the follow-ups).
        std::size_t entries = 0;      ///< Follow-ups in its outbox not yet relayed (also those a relay holds right now).
        Seconds oldest_age{0.0};      ///< Age of the oldest of them, by the group's server clock; 0 when none.
        std::uint64_t relayed = 0;    ///< Follow-ups this adapter relayed from the group (since it was made).
        std::uint64_t failed = 0;     ///< This adapter's attempts to relay one that failed (it stayed in the outbox).
        std::string last_error;       ///< Why the last attempt failed; empty once one succeeded since.
    };

    /// @brief The key layout @p url's query names (`?keyLayout=groups`), or std::nullopt. Throws
    /// InvalidArgumentError (URL redacted) for another value.
    static std::optional<KeyLayout> url_key_layout(std::string_view url);

    /// @brief @p options set up for the key layout a deployment asks for, in its config
    /// (@p config_layout: Config::key_layout) or in options.url (`?keyLayout=`): with `groups`,
    /// shard_groups = *@p groups (Config::shard_groups) and key_layout = groups; else key_layout =
    /// prefix. Throws InvalidArgumentError when the config and the URL name different layouts, or
    /// when `groups` is asked and @p groups is null (no config to derive them from).
    static Options with_key_layout(Options options, std::optional<KeyLayout> config_layout, const ShardGroups* groups);

    /// @brief @p options with the durability a deployment's config asks for (@p config_durability:
    /// Config::durability): durability, durability_replicas and durability_timeout set from it.
    /// The URL's query may say it instead (`?durability=replicas&replicas=N&waitMs=T`); when both
    /// say it, they must say the same, else InvalidArgumentError (URL redacted). Unset: unchanged.
    static Options with_durability(Options options, const std::optional<DurabilitySetting>& config_durability);

    /// @brief Everything of a deployment's config the adapter takes: with_key_layout (key_layout,
    /// shard_groups) then with_durability. Throws as they do.
    static Options with_config(Options options, const Config& config);

    /// @brief Counters of what the adapter sent (since it was made).
    struct Stats {
        std::uint64_t commands = 0;           ///< Commands sent to the server (a script call counts once).
        std::uint64_t connects = 0;           ///< Connections opened (first ones and reconnects).
        std::uint64_t write_round_trips = 0;  ///< Script calls that carried settles, releases and single pushes.
        std::uint64_t write_operations = 0;   ///< Settles, releases and single pushes they carried.
        std::uint64_t cluster_moved = 0;      ///< Redis Cluster: MOVED replies followed (0 on one server).
        std::uint64_t cluster_asked = 0;      ///< Redis Cluster: ASK replies met (waited out).
        std::uint64_t cluster_waits = 0;      ///< Redis Cluster: waits for TRYAGAIN, CLUSTERDOWN, a migration or a failover.
        std::uint64_t cluster_map_loads = 0;  ///< Redis Cluster: slot maps loaded.
    };

    /// @brief Checks @p options (InvalidArgumentError for a bad URL, a non-positive timeout, an empty
    /// prefix or a zero pool size). Does not connect: the first operation does.
    explicit RedisAdapter(Options options);
    /// @brief An adapter with default options (Redis on 127.0.0.1:6379).
    RedisAdapter();
    ~RedisAdapter() override;

    std::string push(const std::string& channel, Message message, Seconds delay = Seconds{0.0}) override;
    /// @brief Pushes in script calls of a few hundred messages, pipelined on one connection. Each
    /// call is atomic; the batch as a whole is not (a failure part-way leaves the earlier calls done).
    std::vector<std::string> push_batch(std::vector<OutgoingMessage> messages) override;
    std::vector<Delivery> reserve(const std::vector<std::string>& channels, std::size_t max_messages,
                                  std::chrono::milliseconds wait) override;
    void settle(const Delivery& delivery, Settlement&& settlement) override;
    void release(const Delivery& delivery, Seconds delay = Seconds{0.0}) override;

    /// @brief One settle of settle_batch() (failpipe::SettleItem).
    using SettleItem = failpipe::SettleItem;

    /// @brief Settles many deliveries in one round trip. Each one is atomic on its own, exactly as
    /// settle() would do it; the result for each is null (settled) or the exception settle() would
    /// have thrown for it (StaleDeliveryError: nothing changed; ProtocolError; InvalidArgumentError
    /// for a delivery that is not this adapter's or a bad delay): one item's problem never fails the
    /// others. When the round trip itself fails (ConnectionError/TimeoutError, thrown), any of them may have been applied, and
    /// sending the same items again is safe.
    std::vector<std::exception_ptr> settle_batch(std::vector<SettleItem> items) override;
    std::size_t reclaim() override;
    MessageStatus status(const std::string& id) override;
    ChannelDepth depth(const std::string& channel) override;
    /// @brief Waiting messages of @p channel: ready ones in stream order, then delayed ones by due
    /// time. Bytes that do not decode (and entries of other producers without a message) are listed
    /// with their id, an empty handler, what a worker would keep (docs/redis.md) as JSON binary in
    /// `data` and the reason under metadata `failpipe-decode-error`.
    std::vector<Message> browse(const std::string& channel, std::size_t offset, std::size_t limit) override;
    /// Cursors `r:<stream id>` and `d:<due score>:<member in hex>` (browse_cursor.cpp).
    BrowsePage browse_after(const std::string& channel, const BrowseCursor& after, std::size_t limit) override;
    /// @brief Removes the waiting messages of @p channel with these ids, also when a later message
    /// with the same id went to another channel (found by a scan of @p channel in bounded steps).
    std::size_t remove(const std::string& channel, const std::vector<std::string>& ids) override;
    std::size_t evict(const std::string& channel, const std::vector<std::string>& ids) override;
    std::uint64_t evicted(const std::string& channel) override;
    /// @brief Moves in chunks of at most 256 messages, each chunk one script call: the messages are
    /// read (by the index, then by a bounded scan of @p from for ids the index places elsewhere),
    /// rewritten here, then moved by a compare-and-swap script that checks each one is still the
    /// entry that was read and still waiting, removes it and adds it to @p to in the same step.
    /// A lost reply is answered again from the server (each call carries a token), so nothing is
    /// moved twice. Entries of other producers keep every field. With shard_groups and @p to in
    /// another group than @p from, the compare-and-swap puts each message into @p from's group's
    /// outbox instead (in the same step, with a push token each), and the outbox relay publishes it
    /// to @p to once, as it does a follow-up: the ids are reported moved once in the outbox (an entry
    /// with fields besides the message's id and bytes, which the outbox cannot carry, is skipped
    /// `undecodable` and stays). A @p from whose group the config does not name is refused
    /// (InvalidArgumentError, nothing moved): no worker's relay passes over that group's outbox.
    /// See docs/redis.md, "Moving messages".
    MoveResult move(const std::string& from, const std::string& to, const std::vector<std::string>& ids,
                    const MessageRewrite& rewrite = {}, Seconds delay = Seconds{0.0}) override;
    std::vector<std::string> channels() override;
    /// @brief With shard_groups and @p to in another group than @p from: @p from's group, whose
    /// outbox move() puts the messages into (the rule move() follows); else std::nullopt.
    std::optional<std::string> outbox_of_move(const std::string& from, const std::string& to) const override;

    /// @brief Everything (AdapterCapabilities::all()), with max_message_bytes from the options.
    AdapterCapabilities capabilities() const override;

    /// @brief Stores @p bytes as they are in @p channel, ready now: how tests and tools put
    /// undecodable (poison) data in. Returns the id it is known by: the `id` of the bytes when they
    /// are a JSON object with one, else a new one.
    std::string push_raw(const std::string& channel, std::string bytes);

    /// @brief Round trip to the server (PING). Throws ConnectionError/TimeoutError when it is unreachable.
    void ping();

    /// @brief The text of the server's `INFO` @p section (e.g. `commandstats`), for tools and benchmarks.
    std::string info(std::string_view section = {});

    /// @brief The options in effect (the URL with any password replaced by `***`).
    const Options& options() const noexcept;

    /// @brief `host:port/db` of the server, without credentials (for logs).
    const std::string& endpoint() const noexcept;

    /// @brief What the adapter has sent so far: commands, connections, and how well concurrent
    /// settles were combined (write_operations / write_round_trips).
    Stats stats() const noexcept;

    /// @brief With shard_groups: one pass of the outbox relay over every group this adapter knows
    /// (the config's, and those met since): up to @p max_per_group follow-ups of each group's outbox
    /// (those another relay took more than a visibility timeout ago first) are published to their
    /// channels, each with its push token (a follow-up published before is not published again),
    /// then deleted from the outbox. Returns how many were relayed (0 without shard_groups). A
    /// follow-up that cannot be published stays, is logged and counted (outbox_lag()). Throws
    /// ConnectionError (and the like) only when no group could be relayed.
    std::size_t relay_outbox(std::size_t max_per_group = 256);

    /// @brief With shard_groups: per group known to this adapter, by name, the follow-ups waiting in
    /// its outbox and the age of the oldest (read from Redis: one call per group), and what this
    /// adapter's relay did. Empty without shard_groups.
    std::vector<OutboxLag> outbox_lag();

    /// @brief The adapter's figures for Prometheus (BrokerAdapter::write_metrics; serve_runtime()
    /// collects them, or `metrics->add_collector([adapter](PrometheusWriter& w) { adapter->write_metrics(w); })`).
    /// With shard_groups, per group (label `group`): `failpipe_outbox_relay_lag_seconds` and
    /// `failpipe_outbox_entries` (gauges, from outbox_lag()), `failpipe_outbox_relayed_total` and
    /// `failpipe_outbox_relay_failures_total` (counters of this process). Without, nothing.
    void write_metrics(PrometheusWriter& writer) override;

private:
    detail::redis::AdapterCore& core_of(const std::string& channel);
    void start_relay();
    void wake_relay() noexcept;

    std::unique_ptr<detail::redis::AdapterCore> core_;       // `{key_prefix}`: the only one without shard groups
    std::unique_ptr<detail::redis::ShardedCores> sharded_;  // one core per group; null without shard groups
    std::unique_ptr<detail::redis::OutboxFigures> outbox_figures_;  // with shard groups
    std::once_flag relay_once_;
    std::atomic<bool> relay_started_{false};
    std::unique_ptr<detail::redis::RelayThread> relay_;  // the outbox relay, once started
};

}  // namespace failpipe
