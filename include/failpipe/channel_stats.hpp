/// @file channel_stats.hpp
/// @brief What a broker holds per channel — ready, delayed, reserved, dead, parked, evicted — as
/// `failpipe stats` prints it and as depth gauges for Prometheus (docs/metrics.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "failpipe/adapter.hpp"
#include "failpipe/channel_suffixes.hpp"
#include "failpipe/prometheus.hpp"

namespace failpipe {

/// @brief The suffixes that name a channel's dead-letter and parked channels.
struct ChannelStatsOptions {
    std::string dead_letter_suffix = ":dlq";
    std::string parked_suffix{kParkedSuffix};
};

/// @brief One channel's messages by state. Its dead-letter and parked channels count for it.
struct ChannelStats {
    std::string channel;
    std::size_t ready = 0;
    std::size_t delayed = 0;
    std::size_t reserved = 0;
    std::size_t dead = 0;      ///< Waiting (ready or delayed) in channel + dead_letter_suffix.
    std::size_t parked = 0;    ///< Waiting in channel + parked_suffix.
    std::uint64_t evicted = 0; ///< Dead letters retention removed from channel + dead_letter_suffix, ever.
};

/// @brief @p names without their dead-letter or parked suffix, sorted, once each (a name that is
/// only the suffix is a channel of its own).
std::vector<std::string> base_channels(const std::vector<std::string>& names, const ChannelStatsOptions& options = {});

/// @brief The stats of @p channel (five depth reads and one counter read on the adapter). Needs the
/// `depth` capability (UnsupportedCapabilityError otherwise); `evicted` is 0 on an adapter without `evict`.
ChannelStats channel_stats(InspectionAdapter& adapter, const std::string& channel, const ChannelStatsOptions& options = {});

/// @brief The stats of every base channel of adapter.channels(), sorted by name. Needs `channels` and `depth`.
std::vector<ChannelStats> channel_stats(InspectionAdapter& adapter, const ChannelStatsOptions& options = {});

/// @brief `failpipe_channel_messages{channel,state}` gauges (state ready, delayed, reserved, dead,
/// parked) and `failpipe_dead_letters_evicted_total{channel}` counters.
void write_depth_gauges(PrometheusWriter& writer, const std::vector<ChannelStats>& stats);

/// @brief A Metrics collector that reads the depths of @p channels (every channel when empty) at
/// each scrape. Throws UnsupportedCapabilityError now (not at a scrape) when the adapter lacks `depth`,
/// or `channels` with no @p channels named.
std::function<void(PrometheusWriter&)> depth_collector(std::shared_ptr<InspectionAdapter> adapter,
                                                       std::vector<std::string> channels = {},
                                                       ChannelStatsOptions options = {});

}  // namespace failpipe
