/// @file prometheus.hpp
/// @brief PrometheusWriter: the Prometheus text exposition format (version 0.0.4), written by the
/// library's Metrics, by `failpipe stats --format prometheus` and by collectors the runtime adds.
///
/// Every family is written as one group (HELP, TYPE, then its samples) in the order families were
/// first declared, however the samples were interleaved by the callers: the format requires it, and
/// collectors registered by different parts of a program cannot be expected to coordinate.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace failpipe {

/// @brief One label: name and value. The value is escaped when written (`\\`, `"`, newline), and
/// bytes that are not UTF-8 become U+FFFD.
using PrometheusLabel = std::pair<std::string_view, std::string_view>;

/// @brief The type of a metric family.
enum class PrometheusType { counter, gauge, histogram };

/// @brief A histogram's state: upper bounds (finite, ascending; `+Inf` is implied) and per-bucket
/// counts (not cumulative; one more than bounds: the last is the `+Inf` bucket), plus the sum.
struct HistogramSnapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> counts;
    double sum = 0.0;

    /// @brief Every observation (the `_count` sample).
    std::uint64_t count() const noexcept;
    /// @brief An estimate of the @p q quantile (0 <= q <= 1), as Prometheus' histogram_quantile: linear
    /// within the bucket that holds it, the largest finite bound when it falls in `+Inf`, 0 when empty.
    double quantile(double q) const noexcept;
    /// @brief Adds @p other's counts and sum (same bounds; InvalidArgumentError otherwise).
    void merge(const HistogramSnapshot& other);
};

/// @brief Builds one exposition document. Not thread-safe: one writer per scrape.
class PrometheusWriter {
public:
    /// @brief Declares a family (idempotent). Throws InvalidArgumentError for a name that is not
    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`, or a family declared again with another type.
    void declare(std::string_view name, PrometheusType type, std::string_view help);

    /// @brief One counter sample of family @p name (declared here when new). Counter names end in `_total`.
    void counter(std::string_view name, std::string_view help, std::initializer_list<PrometheusLabel> labels,
                 double value);
    void counter(std::string_view name, std::string_view help, const std::vector<PrometheusLabel>& labels,
                 double value);
    /// @brief One gauge sample.
    void gauge(std::string_view name, std::string_view help, std::initializer_list<PrometheusLabel> labels,
               double value);
    void gauge(std::string_view name, std::string_view help, const std::vector<PrometheusLabel>& labels,
               double value);
    /// @brief A histogram's `_bucket{le=...}` (cumulative, ending in `+Inf`), `_sum` and `_count` samples.
    void histogram(std::string_view name, std::string_view help, const std::vector<PrometheusLabel>& labels,
                   const HistogramSnapshot& histogram);

    /// @brief Adds every family and sample of @p other (same rules as declare: a type clash throws,
    /// and then nothing was added).
    void append(const PrometheusWriter& other);

    /// @brief The document: every family as one group, in order of declaration; ends with a newline
    /// (empty when nothing was written).
    std::string str() const;

private:
    struct Family {
        std::string name;
        PrometheusType type;
        std::string help;
        std::string samples;  // complete lines
    };
    Family& family(std::string_view name, PrometheusType type, std::string_view help);
    static void append_sample(std::string& out, std::string_view name, const std::vector<PrometheusLabel>& labels,
                              std::string_view extra_label, std::string_view extra_value, double value);
    std::vector<Family> families_;
};

/// @brief `counter`, `gauge` or `histogram`.
std::string_view to_string(PrometheusType type) noexcept;

/// @brief A sample value as the format writes it: integers without a fraction, `+Inf`, `-Inf`, `NaN`,
/// other numbers in their shortest round-trip form.
std::string format_prometheus_value(double value);

/// @brief @p value escaped for a label value (`\\`, `\"`, `\n`; invalid UTF-8 as U+FFFD).
std::string escape_prometheus_label(std::string_view value);

}  // namespace failpipe
