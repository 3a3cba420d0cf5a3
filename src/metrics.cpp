#include "failpipe/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <exception>

#include "failpipe/error.hpp"

namespace failpipe {
namespace {

using Counter = std::atomic<std::uint64_t>;

constexpr std::string_view kOther = "other";
constexpr std::string_view kNoType = "(none)";
constexpr std::size_t kClasses = 3;

void bump(Counter& c, std::uint64_t n = 1) noexcept { c.fetch_add(n, std::memory_order_relaxed); }
std::uint64_t read(const Counter& c) noexcept { return c.load(std::memory_order_relaxed); }

void check_buckets(const std::vector<double>& bounds, std::string_view what) {
    if (bounds.empty()) throw InvalidArgumentError("Metrics: " + std::string(what) + " buckets are empty");
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        if (!std::isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
            throw InvalidArgumentError("Metrics: " + std::string(what) +
                                       " buckets must be finite and strictly ascending");
    }
}

std::size_t outcome_index(Outcome o) noexcept {
    const auto it = std::find(kAllOutcomes.begin(), kAllOutcomes.end(), o);
    return static_cast<std::size_t>(it - kAllOutcomes.begin()) % kAllOutcomes.size();
}

// Observations in nanoseconds, so that the sum is one atomic integer (no compare-and-swap loop on
// a double); 2^64 ns is 584 years of handler time.
class AtomicHistogram {
public:
    explicit AtomicHistogram(const std::vector<double>& bounds)
        : bounds_(&bounds), counts_(std::make_unique<Counter[]>(bounds.size() + 1)) {}

    void observe(double seconds) noexcept {
        if (!(seconds >= 0.0)) seconds = 0.0;  // NaN and negatives (a clock step) count as 0
        seconds = std::min(seconds, 1e9);
        const auto it = std::lower_bound(bounds_->begin(), bounds_->end(), seconds);
        bump(counts_[static_cast<std::size_t>(it - bounds_->begin())]);
        bump(sum_ns_, static_cast<std::uint64_t>(std::llround(seconds * 1e9)));
    }

    HistogramSnapshot snapshot() const {
        HistogramSnapshot s;
        s.bounds = *bounds_;
        s.counts.resize(bounds_->size() + 1);
        for (std::size_t i = 0; i < s.counts.size(); ++i) s.counts[i] = read(counts_[i]);
        s.sum = static_cast<double>(read(sum_ns_)) / 1e9;
        return s;
    }

private:
    const std::vector<double>* bounds_;
    std::unique_ptr<Counter[]> counts_;
    Counter sum_ns_{0};
};

// Counters by a label value that is known only when it happens (a middleware id, a reason).
class LabeledCounters {
public:
    explicit LabeledCounters(std::size_t cap) : cap_(cap) {}

    void add(std::string_view label) {
        {
            std::shared_lock lock(mutex_);
            if (auto it = counters_.find(label); it != counters_.end()) {
                bump(*it->second);
                return;
            }
        }
        std::unique_lock lock(mutex_);
        auto it = counters_.find(label);
        if (it == counters_.end()) {
            if (counters_.size() >= cap_) it = counters_.find(kOther);
            if (it == counters_.end()) {
                const std::string_view key = counters_.size() >= cap_ ? kOther : label;
                it = counters_.emplace(std::string(key), std::make_unique<Counter>(0)).first;
            }
        }
        bump(*it->second);
    }

    std::map<std::string, std::uint64_t> snapshot() const {
        std::shared_lock lock(mutex_);
        std::map<std::string, std::uint64_t> out;
        for (const auto& [label, counter] : counters_) out[label] = read(*counter);
        return out;
    }

private:
    std::size_t cap_;
    mutable std::shared_mutex mutex_;
    std::map<std::string, std::unique_ptr<Counter>, std::less<>> counters_;
};

void add_map(std::map<std::string, std::uint64_t>& to, const std::map<std::string, std::uint64_t>& from) {
    for (const auto& [k, v] : from) to[k] += v;
}

void add_histogram(HistogramSnapshot& to, const HistogramSnapshot& from) {
    if (to.counts.empty()) {
        to = from;
        return;
    }
    to.merge(from);
}

// Each thread remembers the last few series it counted into, so the usual event — the same few
// (channel, type) pairs over and over — takes no lock at all. Entries are keyed by the Metrics'
// instance number, never reused, so an entry of a destroyed Metrics can never match.
struct CachedSeries {
    std::uint64_t instance = 0;
    std::string channel;
    std::string type;
    void* series = nullptr;
    bool folded = false;
};
constexpr std::size_t kCachedSeries = 8;
thread_local std::array<CachedSeries, kCachedSeries> t_cache;
thread_local std::size_t t_cache_next = 0;
std::atomic<std::uint64_t> g_next_instance{1};

// A handler or a consume middleware threw. The worker's own refusals carry an error class too
// (poison: DecodeError, expired, a settle the adapter refused) but have metrics of their own.
bool is_failure(const DeliveryEvent& event) noexcept {
    return event.error_class.has_value() && !event.poison && !event.expired && event.reason != "settle-error";
}

}  // namespace

struct Metrics::Series {
    Series(std::string c, std::string t, const Options& options)
        : channel(std::move(c)),
          type(std::move(t)),
          handler(options.handler_buckets),
          lateness(options.lateness_buckets),
          retried_by(options.max_label_values),
          dead_lettered_by(options.max_label_values),
          released_by(options.max_label_values) {}

    std::string channel;
    std::string type;
    Counter received{0};
    std::array<Counter, kAllOutcomes.size()> outcomes{};
    std::array<Counter, kClasses> failed{};
    Counter expired{0};
    Counter poison{0};
    Counter budget_exhausted{0};
    AtomicHistogram handler;
    AtomicHistogram lateness;
    LabeledCounters retried_by;
    LabeledCounters dead_lettered_by;
    LabeledCounters released_by;

    SeriesSnapshot snapshot() const {
        SeriesSnapshot s;
        s.channel = channel;
        s.type = type;
        s.received = read(received);
        for (std::size_t i = 0; i < outcomes.size(); ++i) s.outcomes[i] = read(outcomes[i]);
        for (std::size_t i = 0; i < failed.size(); ++i) s.failed[i] = read(failed[i]);
        s.retried_by = retried_by.snapshot();
        s.dead_lettered_by = dead_lettered_by.snapshot();
        s.released_by = released_by.snapshot();
        s.expired = read(expired);
        s.poison = read(poison);
        s.budget_exhausted = read(budget_exhausted);
        s.handler_seconds = handler.snapshot();
        s.retry_lateness_seconds = lateness.snapshot();
        return s;
    }
};

std::uint64_t SeriesSnapshot::outcome(Outcome o) const noexcept { return outcomes[outcome_index(o)]; }

std::uint64_t SeriesSnapshot::failures(ErrorClass c) const noexcept {
    return failed[static_cast<std::size_t>(c) % kClasses];
}

std::uint64_t SeriesSnapshot::failures() const noexcept { return failed[0] + failed[1] + failed[2]; }

void SeriesSnapshot::add(const SeriesSnapshot& other) {
    received += other.received;
    for (std::size_t i = 0; i < outcomes.size(); ++i) outcomes[i] += other.outcomes[i];
    for (std::size_t i = 0; i < failed.size(); ++i) failed[i] += other.failed[i];
    add_map(retried_by, other.retried_by);
    add_map(dead_lettered_by, other.dead_lettered_by);
    add_map(released_by, other.released_by);
    expired += other.expired;
    poison += other.poison;
    budget_exhausted += other.budget_exhausted;
    add_histogram(handler_seconds, other.handler_seconds);
    add_histogram(retry_lateness_seconds, other.retry_lateness_seconds);
}

SeriesSnapshot MetricsSnapshot::total() const {
    SeriesSnapshot sum;
    for (const auto& s : series) sum.add(s);
    return sum;
}

SeriesSnapshot MetricsSnapshot::channel(std::string_view name) const {
    SeriesSnapshot sum;
    sum.channel = std::string(name);
    for (const auto& s : series)
        if (s.channel == name) sum.add(s);
    return sum;
}

std::vector<double> Metrics::default_handler_buckets() {
    return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

std::vector<double> Metrics::default_lateness_buckets() {
    return {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600};
}

Metrics::Metrics() : Metrics(Options{}) {}

Metrics::Metrics(Options options) : options_(std::move(options)), instance_(g_next_instance.fetch_add(1)) {
    if (options_.max_series == 0) throw InvalidArgumentError("Metrics: max_series must be at least 1");
    if (options_.max_label_values == 0) throw InvalidArgumentError("Metrics: max_label_values must be at least 1");
    check_buckets(options_.handler_buckets, "handler");
    check_buckets(options_.lateness_buckets, "lateness");
}

Metrics::~Metrics() = default;

Metrics::Series* Metrics::find_locked(std::string_view& channel, std::string_view& type, bool& folded) const {
    if (auto it = series_.find(std::pair{channel, type}); it != series_.end()) return it->second.get();
    if (series_.size() < options_.max_series) return nullptr;
    // Past the cap: the channel's `other`, and past twice the cap one `other` for everything.
    folded = true;
    type = kOther;
    if (auto it = series_.find(std::pair{channel, type}); it != series_.end()) return it->second.get();
    if (series_.size() < 2 * options_.max_series) return nullptr;
    channel = kOther;
    if (auto it = series_.find(std::pair{channel, type}); it != series_.end()) return it->second.get();
    return nullptr;
}

Metrics::Series& Metrics::series(std::string_view channel, std::string_view type) {
    if (type.empty()) type = kNoType;
    for (auto& entry : t_cache) {
        if (entry.instance == instance_ && entry.channel == channel && entry.type == type) {
            if (entry.folded) bump(folded_);
            return *static_cast<Series*>(entry.series);
        }
    }
    const std::string_view asked_channel = channel, asked_type = type;
    bool folded = false;
    Series* found = nullptr;
    {
        std::shared_lock lock(mutex_);
        found = find_locked(channel, type, folded);
    }
    if (found == nullptr) {
        std::unique_lock lock(mutex_);
        channel = asked_channel;
        type = asked_type;
        folded = false;
        found = find_locked(channel, type, folded);
        if (found == nullptr) {
            auto created = std::make_unique<Series>(std::string(channel), std::string(type), options_);
            found = created.get();
            series_.emplace(Key{found->channel, found->type}, std::move(created));
        }
    }
    if (folded) bump(folded_);
    CachedSeries& slot = t_cache[t_cache_next++ % kCachedSeries];
    slot.instance = instance_;
    slot.channel.assign(asked_channel);
    slot.type.assign(asked_type);
    slot.series = found;
    slot.folded = folded;
    return *found;
}

void Metrics::on_delivery(const DeliveryEvent& event) noexcept {
    try {
        Series& s = series(event.channel, event.message_type);
        bump(s.received);
        bump(s.outcomes[outcome_index(event.outcome)]);
        if (is_failure(event)) bump(s.failed[static_cast<std::size_t>(*event.error_class) % kClasses]);
        if (event.expired) bump(s.expired);
        if (event.poison) bump(s.poison);
        if (event.budget_exhausted) bump(s.budget_exhausted);
        switch (event.outcome) {
            case Outcome::retried: s.retried_by.add(event.decided_by); break;
            case Outcome::dead_lettered: s.dead_lettered_by.add(event.reason); break;
            case Outcome::released: s.released_by.add(event.decided_by); break;
            default: break;
        }
        // A delivery whose handler never ran (poison, expired, handed back unstarted) has no handler
        // time: counting it as 0 s would pull the quantiles down. Released ones are left out too: a
        // breaker's release never reaches the handler, and during an outage they would outnumber
        // the real calls.
        if (!event.poison && !event.expired && event.outcome != Outcome::released && event.handler_time.count() > 0)
            s.handler.observe(std::chrono::duration<double>(event.handler_time).count());
        if (event.lateness) s.lateness.observe(event.lateness->count());
    } catch (...) {
        // Out of memory for a new series: the event is not counted, and that is counted.
        bump(lost_events_);
    }
}

void Metrics::add_collector(std::function<void(PrometheusWriter&)> collector) {
    if (!collector) throw InvalidArgumentError("Metrics::add_collector: empty function");
    std::lock_guard lock(collectors_mutex_);
    collectors_.push_back(std::move(collector));
}

MetricsSnapshot Metrics::snapshot() const {
    MetricsSnapshot snap;
    std::shared_lock lock(mutex_);
    snap.series.reserve(series_.size());
    for (const auto& [key, s] : series_) snap.series.push_back(s->snapshot());
    snap.folded = read(folded_);
    return snap;
}

void Metrics::write_series(PrometheusWriter& w, const SeriesSnapshot& s) const {
    const std::string_view c = s.channel, t = s.type;
    w.counter("failpipe_received_total", "Deliveries taken from the broker.", {{"channel", c}, {"type", t}},
              static_cast<double>(s.received));
    for (std::size_t i = 0; i < kAllOutcomes.size(); ++i)
        w.counter("failpipe_messages_total", "Deliveries by what became of them.",
                  {{"channel", c}, {"type", t}, {"outcome", to_string(kAllOutcomes[i])}},
                  static_cast<double>(s.outcomes[i]));
    for (auto cls : {ErrorClass::transient, ErrorClass::permanent, ErrorClass::unknown})
        w.counter("failpipe_failures_total", "Handler or consume-middleware failures by error class.",
                  {{"channel", c}, {"type", t}, {"class", to_string(cls)}}, static_cast<double>(s.failures(cls)));
    for (const auto& [id, n] : s.retried_by)
        w.counter("failpipe_retries_total", "Retries by the failure middleware that decided them.",
                  {{"channel", c}, {"type", t}, {"middleware", id}}, static_cast<double>(n));
    for (const auto& [reason, n] : s.dead_lettered_by)
        w.counter("failpipe_dead_letters_total", "Messages moved to a dead-letter channel, by reason.",
                  {{"channel", c}, {"type", t}, {"reason", reason}}, static_cast<double>(n));
    for (const auto& [by, n] : s.released_by)
        w.counter("failpipe_released_total", "Deliveries given back without counting an attempt, by who released them.",
                  {{"channel", c}, {"type", t}, {"by", by}}, static_cast<double>(n));
    w.counter("failpipe_expired_total", "Deliveries reserved after their time to live.", {{"channel", c}, {"type", t}},
              static_cast<double>(s.expired));
    w.counter("failpipe_poison_total", "Undecodable deliveries, or redelivered past maxDeliveries.",
              {{"channel", c}, {"type", t}}, static_cast<double>(s.poison));
    w.counter("failpipe_retry_budget_exhausted_total",
              "Failures that got their middleware's maximum delay because the retry budget was spent.",
              {{"channel", c}, {"type", t}}, static_cast<double>(s.budget_exhausted));
    const std::vector<PrometheusLabel> labels{{"channel", c}, {"type", t}};
    w.histogram("failpipe_handler_duration_seconds", "Time in consume middlewares and the handler, per delivery.",
                labels, s.handler_seconds);
    w.histogram("failpipe_retry_lateness_seconds", "How late a delayed retry ran after its due time.", labels,
                s.retry_lateness_seconds);
}

void Metrics::write(PrometheusWriter& writer) const {
    const MetricsSnapshot snap = snapshot();
    for (const auto& s : snap.series) write_series(writer, s);
    writer.counter("failpipe_metrics_folded_total",
                   "Events counted under type \"other\" because the (channel, type) cap was reached.", {},
                   static_cast<double>(snap.folded));
    writer.counter("failpipe_metrics_lost_events_total", "Events not counted (no memory for a new series).", {},
                   static_cast<double>(read(lost_events_)));
    std::vector<std::function<void(PrometheusWriter&)>> collectors;
    {
        std::lock_guard lock(collectors_mutex_);
        collectors = collectors_;
    }
    for (const auto& collector : collectors) {
        try {
            // Into a writer of its own, so a collector that throws half-way adds nothing.
            PrometheusWriter own;
            collector(own);
            writer.append(own);
        } catch (...) {
            bump(collector_errors_);
        }
    }
    writer.counter("failpipe_metrics_collector_errors_total", "Scrape-time collectors that threw (and were skipped).",
                   {}, static_cast<double>(read(collector_errors_)));
}

std::string Metrics::to_prometheus() const {
    PrometheusWriter writer;
    write(writer);
    return writer.str();
}

}  // namespace failpipe
