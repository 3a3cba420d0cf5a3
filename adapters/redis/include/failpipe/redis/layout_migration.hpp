/// @file layout_migration.hpp
/// @brief RedisLayoutMigration: moves a deployment's messages from the key layout `prefix` (every
/// key under `{prefix}`) to `groups` (each shard group's keys under `{prefix:group}`), without
/// draining first. What `failpipe layout migrate` runs; see docs/shard-groups.md.
///
/// Every message of every channel listed under `{prefix}` moves to the channel of the same name in
/// its group, with all its stream fields (a foreign producer's too) and its delivery count; delayed
/// messages keep their due time (server milliseconds), dead letters are ordinary channels, and each
/// channel's eviction counter is added to the new one's. Reservations older than the visibility
/// timeout move as the reclaim would give them back (one more delivery counted); a live reservation
/// (younger) makes run() refuse before it writes anything: stop the workers first.
///
/// On a cluster the old and the new keys are in different slots, so one message moves in three
/// steps: a batch is read from the old keys, written to the group under a token per message (where
/// it was in the old layout) that the group keeps for 7 days and refuses to write twice, then
/// deleted from the old keys only where it is still exactly what was read. A run killed at any
/// point is finished by running it again (within those 7 days): nothing is lost, nothing doubled.
/// The same steps run on one Redis.
///
/// Not thread-safe: one object per run. Errors: ConnectionError, TimeoutError, ProtocolError (as
/// RedisAdapter), LayoutMigrationRefused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "failpipe/clock.hpp"
#include "failpipe/error.hpp"
#include "failpipe/shard_groups.hpp"

namespace failpipe {

namespace detail::redis {
class MigrationRun;
}

/// @brief A migration that would lose or double messages if it went ahead: live reservations, a
/// channel an earlier run moved to another group, or a process of the old layout still writing.
/// Thrown before anything is written, except for the last (what was moved stays moved).
class LayoutMigrationRefused : public Error {
public:
    using Error::Error;
};

/// @brief Moves a deployment from the key layout `prefix` to `groups` (see the file comment).
class RedisLayoutMigration {
public:
    struct Options {
        /// The broker, as RedisAdapter::Options::url (one server, or any node of a cluster); a
        /// `?keyLayout=` parameter is ignored (the migration always goes from `prefix` to `groups`);
        /// with `?durability=replicas&replicas=N`, each batch's copies wait (WAIT) for N replicas
        /// before the old entries are deleted, so a failover of a group's master loses none. A
        /// replica that lags is waited for again, up to 10 WAITs of `waitMs` per batch; then run()
        /// throws DurabilityError, the batch's old entries not deleted (run it again to finish).
        std::string url = "redis://127.0.0.1:6379";
        /// The key prefix of both layouts.
        std::string key_prefix = "failpipe";
        /// The groups the workers will run with (Config::shard_groups of their config).
        ShardGroups groups;
        /// The workers' visibility timeout (Config::visibility_timeout): reservations older than this
        /// are moved as given back, younger ones make run() refuse.
        Seconds visibility_timeout{30.0};
        Seconds connect_timeout{2.0};
        Seconds command_timeout{5.0};
        /// Messages per batch (read, copied, deleted: three round trips); 1..10000.
        std::size_t batch = 256;
    };

    /// @brief A reservation a worker holds now (younger than the visibility timeout).
    struct Held {
        std::string channel;
        std::string id;         ///< the message id
        std::string stream_id;
        Seconds idle{0.0};      ///< since it was reserved (server clock)
    };

    /// @brief One channel under `{prefix}` and where it goes.
    struct ChannelPlan {
        std::string channel;
        std::string group;           ///< its shard group in Options::groups
        std::string tag;             ///< `{prefix:group}`
        std::string recorded_group;  ///< the group an earlier run started moving it to ("" none)
        std::size_t ready = 0;       ///< waiting messages (due delayed ones included)
        std::size_t delayed = 0;     ///< delayed messages not due yet
        std::size_t expired = 0;     ///< reservations older than the visibility timeout
        std::size_t held = 0;        ///< live reservations
        std::uint64_t evicted = 0;   ///< its eviction counter
        /// What run() moves: ready + delayed + expired (held ones make it refuse).
        std::size_t messages() const noexcept { return ready + delayed + expired; }
    };

    /// @brief What is under `{prefix}` (plan(): read only).
    struct Plan {
        std::vector<ChannelPlan> channels;  ///< by name
        std::vector<Held> held;             ///< live reservations (at most 20 per channel listed)
        /// Channels an earlier run moved to a group other than the one Options::groups gives them.
        std::vector<const ChannelPlan*> conflicts() const;
        std::size_t messages() const noexcept;
        std::size_t held_count() const noexcept;
        /// An earlier run moved channels from this prefix (its record `{prefix}:migrated` is there).
        bool migrated_before = false;
        /// Channels listed under the groups' tags `{prefix:group}` (the config's groups): the new layout is in use.
        std::size_t grouped_channels = 0;
    };

    /// @brief What run() did to one channel. found = moved + already_there.
    struct ChannelResult {
        std::string channel;
        std::string group;
        std::size_t found = 0;          ///< messages read from the old layout
        std::size_t moved = 0;          ///< written to the group now
        std::size_t already_there = 0;  ///< written by an earlier, interrupted run (deleted from the old layout now)
        std::uint64_t evicted = 0;      ///< eviction count added to the group's channel
        bool removed = false;           ///< the old keys of the channel are gone
    };

    /// @brief Called after each batch: messages handled so far, and the plan's total.
    using Progress = std::function<void(std::size_t done, std::size_t total)>;

    /// @brief Checks @p options (InvalidArgumentError for a bad URL, prefix, batch or timeout). Does not connect.
    explicit RedisLayoutMigration(Options options);
    ~RedisLayoutMigration();
    RedisLayoutMigration(const RedisLayoutMigration&) = delete;
    RedisLayoutMigration& operator=(const RedisLayoutMigration&) = delete;

    /// @brief What is under `{prefix}`, per channel, and where it would go. Reads only.
    Plan plan();

    /// @brief Moves every channel of plan(). Throws LayoutMigrationRefused before any write when the
    /// plan has live reservations or conflicts, and part-way when a message changed between its read
    /// and its delete (a process of the old layout is still running: what moved stays moved, run it
    /// again once they are stopped). @p progress is called after each batch.
    std::vector<ChannelResult> run(const Progress& progress = {});

private:
    std::unique_ptr<detail::redis::MigrationRun> impl_;
};

}  // namespace failpipe
