// `groups`: shard groups named by the user, read here; the groups themselves are derived once every
// section is read (derive_groups), by the rules of shard_groups.cpp.
#include "config_groups.hpp"

#include "config_bounds.hpp"
#include "config_json.hpp"
#include "failpipe/config_limits.hpp"

namespace failpipe::detail {

using nlohmann::json;

void load_groups(const json& value, const SectionContext& context, std::vector<NamedShardGroup>& named) {
    const std::string path = "/groups";
    if (!value.is_object()) {
        context.add(path, "expected an object of shard groups (group name → array of channel names), found " +
                              describe(value));
        return;
    }
    if (value.size() > ConfigLimits::kMaxGroups) {
        context.add(path, too_many(ConfigLimits::kMaxGroups, "groups", value.size()));
        return;
    }
    std::size_t total = 0;
    for (const auto& [name, channels] : value.items()) {
        const std::string group_path = child_path(path, name);
        if (!channels.is_array()) {
            context.add(group_path, "expected an array of channel names, found " + describe(channels));
            continue;
        }
        total += channels.size();
        if (total > ConfigLimits::kMaxGroupedChannels) {
            context.add(group_path, "expected at most " + std::to_string(ConfigLimits::kMaxGroupedChannels) +
                                        " channels in all groups together, found more by this group");
            return;
        }
        NamedShardGroup group{name, {}};
        bool ok = true;
        for (std::size_t i = 0; i < channels.size(); ++i) {
            if (channels[i].is_string()) {
                group.channels.push_back(channels[i].get<std::string>());
            } else {
                context.add(child_path(group_path, i), "expected a channel name, found " + describe(channels[i]));
                ok = false;
            }
        }
        // Checked further only when whole: the paths of its problems are its indices.
        if (ok) named.push_back(std::move(group));
    }
}

void load_key_layout(ConfigObjectReader& top, Config& config) {
    if (auto name = top.optional_choice("keyLayout", {"prefix", "groups"})) config.key_layout = key_layout_named(*name);
}

void derive_groups(const std::vector<NamedShardGroup>& named, const SectionContext& context, bool check_links,
                   Config& config) {
    ShardGroupsOptions options;
    options.channels = config.worker.channels;
    options.named = named;
    config.shard_groups = ShardGroupsAccess::build(config.dispatcher, options, context, check_links);
}

}  // namespace failpipe::detail
