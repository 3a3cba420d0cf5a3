/// @file metrics.hpp
/// @brief Metrics: counts and histograms per channel and message type, fed by the worker's
/// DeliveryEvents, read as a snapshot or as Prometheus text (docs/metrics.md lists every metric).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "failpipe/delivery_event.hpp"
#include "failpipe/error_class.hpp"
#include "failpipe/outcome.hpp"
#include "failpipe/prometheus.hpp"

namespace failpipe {

/// @brief Every Outcome, in declaration order (the `outcome` label's values).
inline constexpr std::array<Outcome, 7> kAllOutcomes{Outcome::succeeded,     Outcome::retried,  Outcome::dead_lettered,
                                                     Outcome::dropped,       Outcome::released, Outcome::settle_failed,
                                                     Outcome::left_with_broker};

/// @brief The counts of one (channel, message type) pair, or a sum of several.
struct SeriesSnapshot {
    std::string channel;
    std::string type;  ///< The message's handler name; `(none)` for undecodable messages, `other` past the cap.
    std::uint64_t received = 0;  ///< Deliveries: the sum of `outcomes`.
    std::array<std::uint64_t, kAllOutcomes.size()> outcomes{};  ///< Indexed as kAllOutcomes.
    std::array<std::uint64_t, 3> failed{};  ///< By ErrorClass (transient, permanent, unknown).
    std::map<std::string, std::uint64_t> retried_by;          ///< Retries by the middleware id that decided them.
    std::map<std::string, std::uint64_t> dead_lettered_by;    ///< Dead letters by reason.
    std::map<std::string, std::uint64_t> released_by;         ///< Releases by who released (a breaker's name).
    std::uint64_t expired = 0;
    std::uint64_t poison = 0;
    std::uint64_t budget_exhausted = 0;  ///< Early retries the retry budget turned into the maximum delay.
    HistogramSnapshot handler_seconds;   ///< Consume middlewares + handler, per delivery that ran them.
    HistogramSnapshot retry_lateness_seconds;  ///< How late delayed retries ran after their due time.

    std::uint64_t outcome(Outcome o) const noexcept;
    std::uint64_t failures(ErrorClass c) const noexcept;
    /// @brief Every failure, whatever its class.
    std::uint64_t failures() const noexcept;
    /// @brief Adds @p other's counts (channel and type are kept).
    void add(const SeriesSnapshot& other);
};

/// @brief All series of a Metrics, sorted by channel then type.
struct MetricsSnapshot {
    std::vector<SeriesSnapshot> series;
    std::uint64_t folded = 0;  ///< Events counted under type `other` because of the series cap.

    /// @brief Every series summed (channel and type empty).
    SeriesSnapshot total() const;
    /// @brief The series of @p channel summed (type empty; zeros when it has none).
    SeriesSnapshot channel(std::string_view channel) const;
};

/// @brief A DeliveryObserver that counts. Shared by every worker thread: an event finds its series
/// in a small per-thread cache (no lock), else under a shared (reader) lock, then costs relaxed
/// atomic increments; only the first event of a new (channel, type) pair — or a new middleware id,
/// reason or releaser — takes a writer lock.
///
/// Cardinality is bounded: at most Options::max_series (channel, type) pairs are counted under
/// their own names; the events of further pairs are counted under (channel, `other`), and once
/// twice that many series exist, under (`other`, `other`). Each label map (middleware, reason,
/// by) holds at most Options::max_label_values values per series, then `other`.
class Metrics : public DeliveryObserver {
public:
    struct Options {
        std::size_t max_series = 1000;
        std::size_t max_label_values = 100;
        std::vector<double> handler_buckets = default_handler_buckets();
        std::vector<double> lateness_buckets = default_lateness_buckets();
    };

    /// @brief 0.5 ms … 60 s: 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60.
    static std::vector<double> default_handler_buckets();
    /// @brief 10 ms … 1 h: 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600.
    static std::vector<double> default_lateness_buckets();

    Metrics();
    /// @brief Throws InvalidArgumentError for a cap of 0 or buckets that are empty, not finite or not ascending.
    explicit Metrics(Options options);
    ~Metrics() override;
    Metrics(const Metrics&) = delete;
    Metrics& operator=(const Metrics&) = delete;

    void on_delivery(const DeliveryEvent& event) noexcept override;

    /// @brief Adds a function called at every scrape (to_prometheus, write) after the library's
    /// families, for gauges the caller owns (breaker states, concurrency levels, budget use, depths).
    /// A collector that throws is skipped for that scrape and counted in
    /// `failpipe_metrics_collector_errors_total`.
    void add_collector(std::function<void(PrometheusWriter&)> collector);

    /// @brief Writes every family and runs the collectors.
    void write(PrometheusWriter& writer) const;
    /// @brief The whole exposition (text format 0.0.4).
    std::string to_prometheus() const;
    /// @brief The counts now (each counter read atomically; the set is not one instant).
    MetricsSnapshot snapshot() const;

private:
    struct Series;
    struct KeyLess {
        using is_transparent = void;
        template <class A, class B>
        bool operator()(const A& a, const B& b) const noexcept {
            const std::string_view ac = a.first, at = a.second, bc = b.first, bt = b.second;
            return ac < bc || (ac == bc && at < bt);
        }
    };
    using Key = std::pair<std::string, std::string>;

    Series& series(std::string_view channel, std::string_view type);
    // The series for (channel, type) or, past the cap, the one it folds into (channel and type are
    // updated, folded set); nullptr when it must be created. Under mutex_ (either mode).
    Series* find_locked(std::string_view& channel, std::string_view& type, bool& folded) const;
    void write_series(PrometheusWriter& writer, const SeriesSnapshot& s) const;

    Options options_;
    std::uint64_t instance_;  // never reused: keys the per-thread cache of series
    mutable std::shared_mutex mutex_;
    std::map<Key, std::unique_ptr<Series>, KeyLess> series_;
    std::atomic<std::uint64_t> folded_{0};
    std::atomic<std::uint64_t> lost_events_{0};
    mutable std::mutex collectors_mutex_;
    std::vector<std::function<void(PrometheusWriter&)>> collectors_;
    mutable std::atomic<std::uint64_t> collector_errors_{0};
};

}  // namespace failpipe
