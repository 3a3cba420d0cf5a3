// The dashboard's charts: every channel's depths read every interval into a ring buffer, so the
// page shows the last minutes however often (or seldom) it polls.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "failpipe/adapter.hpp"
#include "failpipe/channel_stats.hpp"
#include "failpipe/metrics.hpp"

namespace failpipe::dashboard::detail {

class Sampler {
public:
    Sampler(std::shared_ptr<AdapterInterface> adapter, ChannelStatsOptions options, Seconds interval, std::size_t capacity,
            std::shared_ptr<const Metrics> metrics = nullptr);
    ~Sampler();
    Sampler(const Sampler&) = delete;
    Sampler& operator=(const Sampler&) = delete;

    void start();
    void stop();

    /// `{"intervalSeconds", "times": [epoch ms], "channels": {name: {"ready": [...], "delayed", "reserved",
    /// "dead", "parked"}}, "deadPerMinute": {name: n}, "brokerError": text or null}`; a sample the broker
    /// did not answer is null in every series. With Metrics, each channel's series also holds
    /// "handledPerSecond" and "failedPerSecond" (between a sample and the one before; null for the first).
    nlohmann::ordered_json to_json() const;

private:
    struct Sample {
        std::chrono::system_clock::time_point time;
        bool ok = false;
        std::map<std::string, ChannelStats> channels;
        std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> counted;  // channel: handled, failed (ever)
    };
    void run();
    void take();

    std::shared_ptr<AdapterInterface> adapter_;
    std::shared_ptr<const Metrics> metrics_;
    ChannelStatsOptions options_;
    Seconds interval_;
    std::size_t capacity_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::deque<Sample> samples_;
    std::string broker_error_;
    std::thread thread_;
};

}  // namespace failpipe::dashboard::detail
