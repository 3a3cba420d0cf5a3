#include "failpipe/channel_stats.hpp"

#include <algorithm>
#include <string_view>

#include "failpipe/error.hpp"

namespace failpipe {
namespace {

std::string base_of(std::string_view name, const ChannelStatsOptions& options) {
    for (std::string_view suffix : {std::string_view(options.dead_letter_suffix), std::string_view(options.parked_suffix)}) {
        if (!suffix.empty() && name.size() > suffix.size() && name.ends_with(suffix)) {
            name.remove_suffix(suffix.size());
            break;
        }
    }
    return std::string(name);
}

std::size_t waiting(const ChannelDepth& d) { return d.ready + d.delayed; }

}  // namespace

std::vector<std::string> base_channels(const std::vector<std::string>& names, const ChannelStatsOptions& options) {
    std::vector<std::string> bases;
    bases.reserve(names.size());
    for (const auto& name : names) bases.push_back(base_of(name, options));
    std::sort(bases.begin(), bases.end());
    bases.erase(std::unique(bases.begin(), bases.end()), bases.end());
    return bases;
}

ChannelStats channel_stats(InspectionAdapter& adapter, const std::string& channel, const ChannelStatsOptions& options) {
    if (options.dead_letter_suffix.empty() || options.parked_suffix.empty())
        throw InvalidArgumentError("channel_stats: the dead-letter and parked suffixes must not be empty");
    const AdapterCapabilities capabilities = adapter.capabilities();
    require_capabilities(capabilities, {Capability::depth}, "channel_stats");
    const ChannelDepth depth = adapter.depth(channel);
    ChannelStats s;
    s.channel = channel;
    s.ready = depth.ready;
    s.delayed = depth.delayed;
    s.reserved = depth.reserved;
    s.dead = waiting(adapter.depth(channel + options.dead_letter_suffix));
    s.parked = waiting(adapter.depth(channel + options.parked_suffix));
    // An adapter that cannot evict never did: nothing to count.
    if (capabilities.has(Capability::evict)) s.evicted = adapter.evicted(channel + options.dead_letter_suffix);
    return s;
}

std::vector<ChannelStats> channel_stats(InspectionAdapter& adapter, const ChannelStatsOptions& options) {
    require_capabilities(adapter.capabilities(), {Capability::channels, Capability::depth}, "channel_stats of every channel");
    std::vector<ChannelStats> stats;
    for (const auto& channel : base_channels(adapter.channels(), options))
        stats.push_back(channel_stats(adapter, channel, options));
    return stats;
}

void write_depth_gauges(PrometheusWriter& writer, const std::vector<ChannelStats>& stats) {
    constexpr std::string_view help = "Messages a channel holds now, by state (dead and parked: waiting in its "
                                      "dead-letter and parked channels).";
    writer.declare("failpipe_channel_messages", PrometheusType::gauge, help);
    writer.declare("failpipe_dead_letters_evicted_total", PrometheusType::counter,
                   "Dead letters retention removed from the channel's dead-letter channel, ever (kept by the broker).");
    for (const auto& s : stats) {
        const std::pair<std::string_view, std::size_t> states[] = {
            {"ready", s.ready}, {"delayed", s.delayed}, {"reserved", s.reserved}, {"dead", s.dead}, {"parked", s.parked}};
        for (const auto& [state, n] : states)
            writer.gauge("failpipe_channel_messages", help, {{"channel", s.channel}, {"state", state}},
                         static_cast<double>(n));
    }
    for (const auto& s : stats)
        writer.counter("failpipe_dead_letters_evicted_total", "", {{"channel", s.channel}},
                       static_cast<double>(s.evicted));
}

std::function<void(PrometheusWriter&)> depth_collector(std::shared_ptr<InspectionAdapter> adapter,
                                                       std::vector<std::string> channels, ChannelStatsOptions options) {
    if (!adapter) throw InvalidArgumentError("depth_collector: null adapter");
    if (channels.empty()) require_capabilities(adapter->capabilities(), {Capability::channels, Capability::depth}, "depth_collector");
    else require_capabilities(adapter->capabilities(), {Capability::depth}, "depth_collector");
    return [adapter = std::move(adapter), channels = std::move(channels), options = std::move(options)](PrometheusWriter& w) {
        std::vector<ChannelStats> stats;
        if (channels.empty()) {
            stats = channel_stats(*adapter, options);
        } else {
            for (const auto& c : channels) stats.push_back(channel_stats(*adapter, c, options));
        }
        write_depth_gauges(w, stats);
    };
}

}  // namespace failpipe
