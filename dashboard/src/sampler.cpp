#include "sampler.hpp"

#include <set>

#include "metadata.hpp"

namespace failpipe::dashboard::detail {

Sampler::Sampler(std::shared_ptr<AdapterInterface> adapter, ChannelStatsOptions options, Seconds interval,
                 std::size_t capacity, std::shared_ptr<const Metrics> metrics)
    : adapter_(std::move(adapter)),
      metrics_(std::move(metrics)),
      options_(std::move(options)),
      interval_(interval),
      capacity_(std::max<std::size_t>(capacity, 2)) {}

Sampler::~Sampler() { stop(); }

void Sampler::start() {
    std::lock_guard lock(mutex_);
    if (thread_.joinable()) return;
    stopping_ = false;
    thread_ = std::thread([this] { run(); });
}

void Sampler::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void Sampler::run() {
    const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval_);
    auto next = std::chrono::steady_clock::now();
    for (;;) {
        take();
        next += period;
        std::unique_lock lock(mutex_);
        if (wake_.wait_until(lock, next, [this] { return stopping_; })) return;
    }
}

void Sampler::take() {
    Sample sample;
    sample.time = std::chrono::system_clock::now();
    std::string error;
    if (metrics_) {
        for (const auto& series : metrics_->snapshot().series) {
            auto& [handled, failed] = sample.counted[series.channel];
            handled += series.outcome(Outcome::succeeded);
            failed += series.failures();
        }
    }
    try {
        for (auto& stats : channel_stats(*adapter_, options_)) sample.channels.emplace(stats.channel, std::move(stats));
        sample.ok = true;
    } catch (const std::exception& e) {
        error = e.what();
    }
    std::lock_guard lock(mutex_);
    broker_error_ = std::move(error);
    samples_.push_back(std::move(sample));
    while (samples_.size() > capacity_) samples_.pop_front();
}

nlohmann::ordered_json Sampler::to_json() const {
    std::lock_guard lock(mutex_);
    nlohmann::ordered_json doc;
    doc["intervalSeconds"] = interval_.count();
    doc["times"] = nlohmann::ordered_json::array();
    std::set<std::string> names;
    for (const auto& sample : samples_) {
        doc["times"].push_back(failpipe::detail::epoch_ms(sample.time));
        for (const auto& [name, stats] : sample.channels) names.insert(name);
    }
    nlohmann::ordered_json channels = nlohmann::ordered_json::object();
    nlohmann::ordered_json per_minute = nlohmann::ordered_json::object();
    for (const auto& name : names) {
        nlohmann::ordered_json series;
        for (const char* key : {"ready", "delayed", "reserved", "dead", "parked"}) series[key] = nlohmann::ordered_json::array();
        // The first and last samples the broker answered (a channel absent from one is empty then).
        const Sample* first = nullptr;
        const Sample* last = nullptr;
        for (const auto& sample : samples_) {
            if (sample.ok) {
                if (!first) first = &sample;
                last = &sample;
            }
            const auto it = sample.channels.find(name);
            if (it == sample.channels.end()) {
                for (auto& item : series.items()) item.value().push_back(sample.ok ? nlohmann::ordered_json(0) : nullptr);
                continue;
            }
            const ChannelStats& s = it->second;
            series["ready"].push_back(s.ready);
            series["delayed"].push_back(s.delayed);
            series["reserved"].push_back(s.reserved);
            series["dead"].push_back(s.dead);
            series["parked"].push_back(s.parked);
        }
        if (metrics_) {
            // Per second between consecutive samples (a channel a worker never touched counts 0).
            series["handledPerSecond"] = nlohmann::ordered_json::array();
            series["failedPerSecond"] = nlohmann::ordered_json::array();
            const Sample* before = nullptr;
            for (const auto& sample : samples_) {
                if (!before) {
                    series["handledPerSecond"].push_back(nullptr);
                    series["failedPerSecond"].push_back(nullptr);
                    before = &sample;
                    continue;
                }
                const double seconds = std::chrono::duration<double>(sample.time - before->time).count();
                auto count = [](const Sample& s, const std::string& channel) {
                    const auto it = s.counted.find(channel);
                    return it == s.counted.end() ? std::pair<std::uint64_t, std::uint64_t>{0, 0} : it->second;
                };
                const auto now = count(sample, name);
                const auto then = count(*before, name);
                const auto rate = [seconds](std::uint64_t a, std::uint64_t b) {
                    return seconds > 0 && a >= b ? static_cast<double>(a - b) / seconds : 0.0;
                };
                series["handledPerSecond"].push_back(rate(now.first, then.first));
                series["failedPerSecond"].push_back(rate(now.second, then.second));
                before = &sample;
            }
        }
        channels[name] = std::move(series);
        // Net growth of the dead letters over the samples kept (negative after a replay or purge).
        double rate = 0.0;
        if (first && last && last->time > first->time) {
            const double minutes = std::chrono::duration<double>(last->time - first->time).count() / 60.0;
            auto dead = [&name](const Sample& s) {
                const auto it = s.channels.find(name);
                return it == s.channels.end() ? 0.0 : static_cast<double>(it->second.dead);
            };
            rate = (dead(*last) - dead(*first)) / minutes;
        }
        per_minute[name] = rate;
    }
    doc["channels"] = std::move(channels);
    doc["deadPerMinute"] = std::move(per_minute);
    doc["brokerError"] = broker_error_.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(broker_error_);
    return doc;
}

}  // namespace failpipe::dashboard::detail
