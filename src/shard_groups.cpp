// Shard groups: union-find over the links a config's pipelines make between channels.
#include "failpipe/shard_groups.hpp"

#include <algorithm>
#include <deque>
#include <set>
#include <utility>

#include "config_bounds.hpp"
#include "config_groups.hpp"
#include "config_issues.hpp"
#include "config_json.hpp"
#include "failpipe/error.hpp"
#include "failpipe/hash_slot.hpp"
#include "failpipe/retry_budget.hpp"

namespace failpipe {
namespace {

bool has_brace(std::string_view name) { return name.find_first_of("{}") != std::string_view::npos; }

// A channel's name made a valid group name: braces would end the hash tag early.
std::string without_braces(std::string_view name) {
    std::string out(name);
    std::replace_if(out.begin(), out.end(), [](char c) { return c == '{' || c == '}'; }, '_');
    return out;
}

// @p name without one trailing @p suffix, when it has one and something is left.
std::optional<std::string_view> strip_suffix(std::string_view name, std::string_view suffix) {
    if (suffix.empty() || name.size() <= suffix.size() || !name.ends_with(suffix)) return std::nullopt;
    return name.substr(0, name.size() - suffix.size());
}

}  // namespace

namespace detail {
namespace {

// Union-find over channel names; a component may carry the named group it belongs to.
class Builder {
public:
    Builder(const FailureMiddlewareDispatcher::Options& dispatcher, const ShardGroupsOptions& options,
            const SectionContext& context, bool check_links)
        : dispatcher_(dispatcher), options_(options), context_(context), check_links_(check_links) {}

    // What ShardGroupsAccess puts into a ShardGroups.
    struct Parts {
        std::vector<ShardGroup> groups;  // sorted by name
        std::vector<UndeclaredTargets> undeclared;
        std::optional<std::string> default_target;  // a fixed channel the default pipeline pushes to
    };

    Parts build() {
        Parts parts;
        read_named();
        record_undeclared(parts.undeclared);
        link_default_targets();
        seed_working_channels();
        while (!pending_.empty()) {
            const std::string channel = std::move(pending_.front());
            pending_.pop_front();
            expand(channel);
        }
        parts.groups = name_groups();
        parts.default_target = default_target_;
        return parts;
    }

private:
    // Where a channel is listed in `groups`, for messages.
    struct Listing {
        std::size_t group;
        std::string path;
    };

    std::size_t node(const std::string& channel) {
        auto [it, added] = ids_.try_emplace(channel, parent_.size());
        if (added) {
            parent_.push_back(parent_.size());
            size_.push_back(1);
            label_.emplace_back();
            listed_.emplace_back();
        }
        return it->second;
    }

    std::size_t find(std::size_t n) {
        std::size_t root = n;
        while (parent_[root] != root) root = parent_[root];
        while (parent_[n] != root) n = std::exchange(parent_[n], root);
        return root;
    }

    // Puts @p from and @p to in one component, unless their components belong to two named
    // groups: that is the contradiction reported (once per pair of groups).
    void link(const std::string& from, const std::string& to, const std::string& why) {
        const std::size_t a = find(node(from));
        const std::size_t b = find(node(to));
        if (a == b) return;
        if (label_[a] && label_[b] && *label_[a] != *label_[b]) {
            contradiction(from, to, *label_[a], *label_[b], why);
            return;
        }
        const auto label = label_[a] ? label_[a] : label_[b];
        const auto [big, small] = size_[a] >= size_[b] ? std::pair{a, b} : std::pair{b, a};
        parent_[small] = big;
        size_[big] += size_[small];
        label_[big] = label;
    }

    std::string membership(const std::string& channel, std::size_t group) {
        const auto& listing = listed_[ids_.at(channel)];
        std::string text = quote_json(channel) + " is in group " + quote_json(named_[group].name);
        if (!listing) text += " (through the channels it exchanges messages with)";
        return text;
    }

    void contradiction(const std::string& from, const std::string& to, std::size_t group_a, std::size_t group_b,
                       const std::string& why) {
        if (!check_links_ || !reported_.insert({std::min(group_a, group_b), std::max(group_a, group_b)}).second) return;
        const auto& to_listing = listed_[ids_.at(to)];
        const auto& from_listing = listed_[ids_.at(from)];
        const std::string path = to_listing     ? to_listing->path
                                 : from_listing ? from_listing->path
                                                : child_path("/groups", named_[group_b].name);
        context_.add(path, "channels " + quote_json(from) + " and " + quote_json(to) + " must share one group, but " +
                               membership(from, group_a) + " and " + membership(to, group_b) + ": " + why +
                               " (a settle moves it in one atomic step, which a cluster can only do within one "
                               "group): put both in one group, or take one out of its group");
    }

    // `groups`: each name and channel checked, each group's channels linked under its label.
    void read_named() {
        named_ = options_.named;
        std::map<std::string, std::size_t, std::less<>> seen_names;
        for (std::size_t g = 0; g < named_.size(); ++g) {
            const NamedShardGroup& group = named_[g];
            const std::string path = child_path("/groups", group.name);
            if (auto problem = shard_group_name_problem(group.name)) {
                context_.add(path, *problem);
                continue;
            }
            if (!seen_names.emplace(group.name, g).second) {
                context_.add(path, "duplicate group " + quote_json(group.name));
                continue;
            }
            if (group.channels.empty()) {
                context_.add(path, "expected a non-empty array of channel names, found []");
                continue;
            }
            std::optional<std::size_t> first;
            for (std::size_t i = 0; i < group.channels.size(); ++i) {
                if (auto n = read_member(g, i)) {
                    if (!first) first = *n;
                    link_members(*first, *n);
                }
            }
        }
    }

    std::optional<std::size_t> read_member(std::size_t g, std::size_t i) {
        const std::string& channel = named_[g].channels[i];
        const std::string path = child_path(child_path("/groups", named_[g].name), i);
        if (auto problem = channel_name_problem(channel)) {
            context_.add(path, *problem);
            return std::nullopt;
        }
        const std::size_t n = node(channel);
        if (const auto& listing = listed_[n]) {
            if (listing->group == g)
                context_.add(path, "duplicate channel " + quote_json(channel));
            else
                context_.add(path, "channel " + quote_json(channel) + " is already in group " +
                                       quote_json(named_[listing->group].name) + " (" + listing->path +
                                       "): a channel belongs to one group");
            return std::nullopt;
        }
        listed_[n] = Listing{g, path};
        label_[find(n)] = g;
        return n;
    }

    // Two channels listed in one group: their components merge (neither belonged to another group
    // yet, since links are made after every group is read).
    void link_members(std::size_t first, std::size_t n) {
        const std::size_t a = find(first);
        const std::size_t b = find(n);
        if (a == b) return;
        parent_[b] = a;
        size_[a] += size_[b];
    }

    static std::string where(const std::string* channel, std::size_t index) {
        return child_path(channel ? child_path("/pipelines", *channel) : std::string("/defaultPipeline"), index);
    }

    void record_undeclared(std::vector<UndeclaredTargets>& undeclared) {
        const std::string& suffix = dispatcher_.dead_letter_suffix;
        for (const auto& middleware : dispatcher_.default_pipeline)
            if (!middleware->targets(suffix)) undeclared.push_back({"", middleware->id()});
        for (const auto& [channel, pipeline] : dispatcher_.pipelines)
            for (const auto& middleware : pipeline)
                if (!middleware->targets(suffix)) undeclared.push_back({channel, middleware->id()});
    }

    // The default pipeline runs for every channel without a pipeline of its own, including channels
    // the config never names: the fixed channels it pushes to are therefore linked to each other.
    void link_default_targets() {
        const auto& pipeline = dispatcher_.default_pipeline;
        std::optional<std::pair<std::string, std::string>> first;  // channel, middleware id
        for (std::size_t i = 0; i < pipeline.size(); ++i) {
            auto targets = pipeline[i]->targets(dispatcher_.dead_letter_suffix);
            if (!targets) continue;
            for (const MiddlewareTarget& target : *targets) {
                if (target.channel.empty()) continue;
                const std::string to = target.resolve("");
                if (!target.dead_letter) add_working(to);
                if (!first) {
                    first = {to, pipeline[i]->id()};
                    default_target_ = to;
                    node(to);
                    continue;
                }
                link(first->first, to,
                     "the default pipeline, which runs for every channel without a pipeline of its own, pushes to "
                     "both (middlewares " + quote_json(first->second) + " and " + quote_json(pipeline[i]->id()) + " at " +
                         where(nullptr, i) + ")");
            }
        }
    }

    void add_working(const std::string& channel) {
        if (channel.empty()) return;
        if (working_.insert(channel).second) pending_.push_back(channel);
    }

    void seed_working_channels() {
        for (const auto& [channel, pipeline] : dispatcher_.pipelines) add_working(channel);
        for (const auto& [channel, seconds] : dispatcher_.max_elapsed) add_working(channel);
        if (dispatcher_.retry_budget)
            for (const auto& [channel, budget] : dispatcher_.retry_budget->channel_options()) add_working(channel);
        for (const auto& channel : options_.channels) add_working(channel);
        for (const auto& group : named_)
            for (const auto& channel : group.channels)
                if (!channel_name_problem(channel)) add_working(channel);
    }

    std::string parked_of(const std::string& channel) const {
        const std::string& parked = options_.parked_suffix;
        if (std::string_view(channel).ends_with(parked) && !parked.empty()) return channel;
        std::string base(strip_suffix(channel, dispatcher_.dead_letter_suffix).value_or(channel));
        return base + parked;
    }

    // A channel that is consumed: its pipeline's targets, its dead-letter and its parked channel.
    void expand(const std::string& channel) {
        node(channel);
        const auto own = dispatcher_.pipelines.find(channel);
        const bool has_own = own != dispatcher_.pipelines.end() && !own->second.empty();
        const FailurePipeline& pipeline = has_own ? own->second : dispatcher_.default_pipeline;
        for (std::size_t i = 0; i < pipeline.size(); ++i) {
            auto targets = pipeline[i]->targets(dispatcher_.dead_letter_suffix);
            if (!targets) continue;
            for (const MiddlewareTarget& target : *targets) {
                const std::string to = target.resolve(channel);
                if (to == channel || to.empty()) continue;
                link(channel, to,
                     "middleware " + quote_json(pipeline[i]->id()) + " (" + where(has_own ? &channel : nullptr, i) +
                         ") pushes a message that failed on " + quote_json(channel) + " to " + quote_json(to));
                if (!target.dead_letter) add_working(to);
            }
        }
        const std::string dead_letters = channel + dispatcher_.dead_letter_suffix;
        link(channel, dead_letters,
             quote_json(dead_letters) + " is the dead-letter channel of " + quote_json(channel) +
                 " (the final dead-letter, poison, expiry and maxDeliveries paths use it)");
        const std::string parked = parked_of(channel);
        if (parked != channel)
            link(channel, parked, quote_json(parked) + " is the parked channel of " + quote_json(channel) +
                                      " (a replay moves a dead letter replayed too often there)");
    }

    // After a channel that is consumed (not a dead-letter or parked one) when one can name it.
    std::string derived_name(const std::vector<std::string>& channels, std::set<std::string, std::less<>>& taken) {
        auto clean = std::find_if(channels.begin(), channels.end(),
                                  [&](const std::string& c) { return !has_brace(c) && working_.count(c) != 0; });
        if (clean == channels.end())
            clean = std::find_if(channels.begin(), channels.end(), [](const std::string& c) { return !has_brace(c); });
        const std::string base = clean != channels.end() ? *clean : without_braces(channels.front());
        std::string name = base;
        for (std::size_t n = 2; taken.count(name) != 0; ++n) name = base + "_" + std::to_string(n);
        taken.insert(name);
        return name;
    }

    std::vector<ShardGroup> name_groups() {
        // Channels by component, in name order (ids_ is sorted), so each list is sorted.
        std::map<std::size_t, std::vector<std::string>> members;
        std::vector<std::size_t> order;  // components by their smallest channel
        for (const auto& [channel, id] : ids_) {
            auto [it, added] = members.try_emplace(find(id));
            if (added) order.push_back(it->first);
            it->second.push_back(channel);
        }
        std::set<std::string, std::less<>> taken;
        for (const auto& group : named_) taken.insert(group.name);
        std::vector<ShardGroup> groups;
        for (std::size_t root : order) {
            ShardGroup group;
            group.channels = std::move(members[root]);
            group.named = label_[root].has_value();
            group.name = group.named ? named_[*label_[root]].name : derived_name(group.channels, taken);
            groups.push_back(std::move(group));
        }
        std::sort(groups.begin(), groups.end(), [](const ShardGroup& a, const ShardGroup& b) { return a.name < b.name; });
        return groups;
    }

    const FailureMiddlewareDispatcher::Options& dispatcher_;
    const ShardGroupsOptions& options_;
    const SectionContext& context_;
    bool check_links_;
    std::vector<NamedShardGroup> named_;
    std::map<std::string, std::size_t, std::less<>> ids_;
    std::vector<std::size_t> parent_;
    std::vector<std::size_t> size_;
    std::vector<std::optional<std::size_t>> label_;
    std::vector<std::optional<Listing>> listed_;
    std::set<std::pair<std::size_t, std::size_t>> reported_;
    std::set<std::string, std::less<>> working_;
    std::deque<std::string> pending_;
    std::optional<std::string> default_target_;
};

}  // namespace

ShardGroups ShardGroupsAccess::build(const FailureMiddlewareDispatcher::Options& dispatcher,
                                     const ShardGroupsOptions& options, const SectionContext& context,
                                     bool check_links) {
    auto parts = Builder(dispatcher, options, context, check_links).build();
    ShardGroups result;
    result.groups_ = std::move(parts.groups);
    for (std::size_t g = 0; g < result.groups_.size(); ++g)
        for (const auto& channel : result.groups_[g].channels) result.index_.emplace(channel, g);
    result.undeclared_ = std::move(parts.undeclared);
    result.dead_letter_suffix_ = dispatcher.dead_letter_suffix;
    result.parked_suffix_ = options.parked_suffix;
    if (parts.default_target) result.default_group_ = result.group_of(*parts.default_target);
    return result;
}

}  // namespace detail

ShardGroups ShardGroups::derive(const FailureMiddlewareDispatcher::Options& dispatcher, const ShardGroupsOptions& options) {
    std::vector<ConfigIssue> issues;
    std::size_t dropped = 0;
    const detail::SectionContext context{issues, &dropped, nullptr};
    ShardGroups groups = detail::ShardGroupsAccess::build(dispatcher, options, context, true);
    if (issues.empty()) return groups;
    detail::sort_issues(issues);
    detail::cap_issues(issues, dropped);
    throw ConfigError(std::move(issues));
}

std::string ShardGroups::group_of(std::string_view channel) const {
    if (channel.empty()) throw InvalidArgumentError("ShardGroups::group_of: the channel name is empty");
    std::string_view base = channel;
    while (true) {
        if (auto it = index_.find(base); it != index_.end()) return groups_[it->second].name;
        auto stripped = strip_suffix(base, dead_letter_suffix_);
        if (!stripped) stripped = strip_suffix(base, parked_suffix_);
        if (!stripped) break;
        base = *stripped;
    }
    if (default_group_) return *default_group_;
    return without_braces(base);
}

const ShardGroup* ShardGroups::find(std::string_view name) const {
    auto it = std::lower_bound(groups_.begin(), groups_.end(), name,
                               [](const ShardGroup& group, std::string_view n) { return group.name < n; });
    return it != groups_.end() && it->name == name ? &*it : nullptr;
}

std::optional<std::string> shard_group_name_problem(std::string_view name) {
    if (name.empty()) return "expected a non-empty group name, found \"\"";
    if (name.size() > ShardGroups::kMaxNameBytes)
        return "expected a group name of at most " + std::to_string(ShardGroups::kMaxNameBytes) +
               " bytes, found one of " + std::to_string(name.size()) + " bytes";
    if (has_brace(name))
        return "expected a group name without '{' or '}' (it goes into the hash tag {prefix:group}, which a brace "
               "would end early), found " +
               detail::quote_json(name);
    return std::nullopt;
}

std::string shard_hash_tag(std::string_view prefix, std::string_view group) {
    if (prefix.empty() || has_brace(prefix))
        throw InvalidArgumentError("shard_hash_tag: the key prefix must be non-empty and hold no '{' or '}', found " +
                                   detail::quote_json(prefix));
    if (group.empty() || has_brace(group))
        throw InvalidArgumentError("shard_hash_tag: the group name must be non-empty and hold no '{' or '}', found " +
                                   detail::quote_json(group));
    std::string tag;
    tag.reserve(prefix.size() + group.size() + 3);
    tag.append("{").append(prefix).append(":").append(group).append("}");
    return tag;
}

std::uint16_t shard_slot(std::string_view prefix, std::string_view group) {
    return cluster_hash_slot(shard_hash_tag(prefix, group));
}

}  // namespace failpipe
