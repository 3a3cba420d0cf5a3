// The top-level keys `groups` (shard groups named by the user) and `keyLayout`, and the derivation of
// Config::shard_groups once every section is read. The rules are in shard_groups.cpp.
#pragma once

#include <vector>

#include <nlohmann/json.hpp>

#include "config_resilience.hpp"
#include "failpipe/config_reader.hpp"
#include "failpipe/config.hpp"
#include "failpipe/shard_groups.hpp"

namespace failpipe::detail {

/// Lets the loader build ShardGroups with its problems kept as issues.
struct ShardGroupsAccess {
    /// Derives the groups; problems go to @p context. Links that contradict named groups are
    /// reported only when @p check_links: a document with other problems may have lost pipelines,
    /// and a pipeline lost is a default pipeline gained, so its links would be guesses.
    static ShardGroups build(const FailureMiddlewareDispatcher::Options& dispatcher, const ShardGroupsOptions& options,
                             const SectionContext& context, bool check_links);
};

/// Reads `groups` (its shape and limits) into @p named; names and channels are checked when the
/// groups are derived.
void load_groups(const nlohmann::json& value, const SectionContext& context, std::vector<NamedShardGroup>& named);

/// Reads the top-level `keyLayout` ("prefix" or "groups") into config.key_layout.
void load_key_layout(ConfigObjectReader& top, Config& config);

/// Sets config.shard_groups from its pipelines, worker channels and @p named.
void derive_groups(const std::vector<NamedShardGroup>& named, const SectionContext& context, bool check_links,
                   Config& config);

}  // namespace failpipe::detail
