/// @file shard_groups.hpp
/// @brief Shard groups: the channels that exchange messages through failure pipelines, which must
/// share one Redis Cluster hash tag so that every settle stays one atomic script in one slot.
///
/// A group is a connected component of the links "channel C → every channel C's pipeline (its own,
/// or the default one when it has none) may push to, C's dead-letter channel (`C` + deadLetterSuffix)
/// and C's parked channel (`C:parked`)". Groups named in the config (`groups`) may merge components,
/// never split one. See docs/shard-groups.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "failpipe/channel_suffixes.hpp"
#include "failpipe/failure_middleware_dispatcher.hpp"

namespace failpipe {

namespace detail {
struct ShardGroupsAccess;
}

/// @brief A group named in config (`"groups": {"payments": ["payments", "payments-retry"]}`) or in code.
struct NamedShardGroup {
    std::string name;
    std::vector<std::string> channels;
};

/// @brief One shard group.
struct ShardGroup {
    std::string name;                   ///< Its name: given in `groups`, or derived (see ShardGroups).
    bool named = false;                 ///< True when `groups` names it.
    std::vector<std::string> channels;  ///< Every channel of the config in it, sorted (bytewise).
};

/// @brief A middleware that does not say where it pushes (MiddlewareFailureInterface::targets):
/// its pushes cannot be placed in a group.
struct UndeclaredTargets {
    std::string channel;     ///< A channel whose pipeline runs it.
    std::string middleware;  ///< Its id.
};

/// @brief What ShardGroups::derive() knows besides the dispatcher's pipelines.
struct ShardGroupsOptions {
    /// Channels the deployment consumes or names (Config: `worker.channels`, `maxElapsed` and
    /// `retryBudget` channels). Each is a group member, and its pipeline's targets with it.
    std::vector<std::string> channels;
    /// Groups named by the user; each channel in at most one.
    std::vector<NamedShardGroup> named;
    /// As DeadLetters::Options::parked_suffix.
    std::string parked_suffix{kParkedSuffix};
};

/// @brief The shard groups of a deployment. Immutable; safe to share between threads.
///
/// Names: a named group keeps its name; a derived group is named after its smallest (bytewise)
/// consumed channel — one that is not only a dead-letter or parked channel — whose name has no `{`
/// or `}`; failing that its smallest channel without braces; failing that its smallest channel with
/// each brace replaced by `_`. `_2`, `_3`, … is appended when a group already has that name. Names
/// depend on the config alone, so they are stable as long as it is.
class ShardGroups {
public:
    /// @brief Longest group name accepted in `groups` (a channel name may be longer: derived names follow it).
    static constexpr std::size_t kMaxNameBytes = 256;

    /// @brief No pipelines: every channel is a group of its own (with its dead-letter and parked channels).
    ShardGroups() = default;

    /// @brief Derives the groups of @p dispatcher's pipelines and @p options. Throws ConfigError
    /// (paths as in the config document: `/groups/<name>/<index>`) when a named group's name or a
    /// channel is refused (empty, too long, a group name with `{` or `}`), a channel is listed twice
    /// or in two groups, or two named groups hold channels that a pipeline links (the message names
    /// both channels, the middleware and both groups).
    static ShardGroups derive(const FailureMiddlewareDispatcher::Options& dispatcher,
                              const ShardGroupsOptions& options = {});

    /// @brief The name of @p channel's group. A channel the config does not know (no pipeline,
    /// worker, limit, budget, group or pipeline target names it) is in the group of the channel it
    /// is the dead-letter or parked channel of (`orders:dlq` → `orders`'s group) when that one is
    /// known; else in the default pipeline's group when the default pipeline pushes to a fixed
    /// channel (every channel without a pipeline of its own runs it); else in a group of its own,
    /// named after it (braces replaced by `_`). Throws InvalidArgumentError for an empty name.
    std::string group_of(std::string_view channel) const;

    /// @brief True when @p a and @p b are in one group (their keys share a hash tag on a cluster).
    bool same_group(std::string_view a, std::string_view b) const { return group_of(a) == group_of(b); }

    /// @brief The groups of the channels the config knows, sorted by name.
    const std::vector<ShardGroup>& groups() const noexcept { return groups_; }

    /// @brief The group named @p name, or null.
    const ShardGroup* find(std::string_view name) const;

    /// @brief The group channels without a pipeline of their own fall into, when the default
    /// pipeline pushes to a fixed channel; else std::nullopt.
    const std::optional<std::string>& default_group() const noexcept { return default_group_; }

    /// @brief Middlewares whose pushes could not be placed (custom types that do not declare
    /// targets()), by channel. A push of theirs to another group is not atomic on a cluster.
    const std::vector<UndeclaredTargets>& undeclared() const noexcept { return undeclared_; }

private:
    friend struct detail::ShardGroupsAccess;

    std::vector<ShardGroup> groups_;
    std::map<std::string, std::size_t, std::less<>> index_;  // channel → position in groups_
    std::optional<std::string> default_group_;
    std::vector<UndeclaredTargets> undeclared_;
    std::string dead_letter_suffix_ = ":dlq";
    std::string parked_suffix_{kParkedSuffix};
};

/// @brief Why @p name cannot name a group (empty, longer than ShardGroups::kMaxNameBytes, or
/// holding `{` or `}`, which would end the hash tag early), or std::nullopt.
std::optional<std::string> shard_group_name_problem(std::string_view name);

/// @brief The hash tag the keys of group @p group use on a Redis Cluster: `{<prefix>:<group>}`.
/// On one Redis (not a cluster) keys keep the tag `{<prefix>}`: see docs/redis.md. Throws
/// InvalidArgumentError when @p prefix is empty or either holds `{` or `}`, or @p group is empty.
std::string shard_hash_tag(std::string_view prefix, std::string_view group);

/// @brief The Redis Cluster slot of shard_hash_tag(@p prefix, @p group).
std::uint16_t shard_slot(std::string_view prefix, std::string_view group);

/// @brief Where a deployment's keys live: config `keyLayout`, Redis URL `?keyLayout=`. Switching
/// moves where keys are written, so it is never implied: see docs/shard-groups.md, "Key layout".
enum class KeyLayout {
    prefix,  ///< every key under `{prefix}` (the default): one slot, one master
    groups,  ///< each shard group's keys under `{prefix:group}`: groups spread over a cluster's masters
};

/// @brief `prefix` or `groups`.
constexpr std::string_view to_string(KeyLayout layout) noexcept {
    return layout == KeyLayout::groups ? "groups" : "prefix";
}

/// @brief The layout named @p name (`prefix` or `groups`), or std::nullopt.
constexpr std::optional<KeyLayout> key_layout_named(std::string_view name) noexcept {
    if (name == "prefix") return KeyLayout::prefix;
    if (name == "groups") return KeyLayout::groups;
    return std::nullopt;
}

}  // namespace failpipe
