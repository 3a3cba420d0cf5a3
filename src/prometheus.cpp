#include "failpipe/prometheus.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "bytes.hpp"
#include "failpipe/error.hpp"

namespace failpipe {
namespace {

bool is_name_start(char c, bool colon_allowed) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_allowed && c == ':');
}

bool is_valid_name(std::string_view name, bool colon_allowed) {
    if (name.empty() || !is_name_start(name.front(), colon_allowed)) return false;
    return std::all_of(name.begin() + 1, name.end(),
                       [&](char c) { return is_name_start(c, colon_allowed) || (c >= '0' && c <= '9'); });
}

void require_metric_name(std::string_view name) {
    if (!is_valid_name(name, true))
        throw InvalidArgumentError("Prometheus: \"" + std::string(name) + "\" is not a metric name");
}

void require_label_name(std::string_view name) {
    // `__` names are reserved by Prometheus; `le` is the histogram's own.
    if (!is_valid_name(name, false) || name.starts_with("__") || name == "le")
        throw InvalidArgumentError("Prometheus: \"" + std::string(name) + "\" is not a label name");
}

// The length of the UTF-8 sequence that starts at @p i, or 0 when the bytes there are not one.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const std::size_t n = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return 0;
    return detail::is_valid_utf8(s.substr(i, n)) ? n : 0;
}

std::string escape_help(std::string_view help) {
    std::string out;
    for (char c : help) {
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}

}  // namespace

std::string_view to_string(PrometheusType type) noexcept {
    switch (type) {
        case PrometheusType::gauge: return "gauge";
        case PrometheusType::histogram: return "histogram";
        case PrometheusType::counter: break;
    }
    return "counter";
}

std::string format_prometheus_value(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    char buffer[64];
    const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
    if (ec != std::errc{}) return "NaN";
    return std::string(buffer, end);
}

std::string escape_prometheus_label(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size();) {
        const std::size_t n = utf8_sequence(value, i);
        if (n == 0) {
            out += "\xEF\xBF\xBD";  // U+FFFD: the format is UTF-8; a scraper would refuse the page
            ++i;
            continue;
        }
        const char c = value[i];
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out.append(value.substr(i, n));
        i += n;
    }
    return out;
}

std::uint64_t HistogramSnapshot::count() const noexcept {
    std::uint64_t total = 0;
    for (auto c : counts) total += c;
    return total;
}

double HistogramSnapshot::quantile(double q) const noexcept {
    const std::uint64_t total = count();
    if (total == 0 || bounds.empty() || counts.size() != bounds.size() + 1) return 0.0;
    q = std::clamp(q, 0.0, 1.0);
    const double rank = q * static_cast<double>(total);
    double below = 0.0;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
        const auto in_bucket = static_cast<double>(counts[i]);
        if (in_bucket > 0 && below + in_bucket >= rank) {
            const double lower = i == 0 ? std::min(0.0, bounds[0]) : bounds[i - 1];
            return lower + (bounds[i] - lower) * ((rank - below) / in_bucket);
        }
        below += in_bucket;
    }
    return bounds.back();
}

void HistogramSnapshot::merge(const HistogramSnapshot& other) {
    if (other.bounds != bounds || other.counts.size() != counts.size())
        throw InvalidArgumentError("HistogramSnapshot::merge: the buckets differ");
    for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += other.counts[i];
    sum += other.sum;
}

PrometheusWriter::Family& PrometheusWriter::family(std::string_view name, PrometheusType type, std::string_view help) {
    for (auto& f : families_) {
        if (f.name != name) continue;
        if (f.type != type)
            throw InvalidArgumentError("Prometheus: family \"" + std::string(name) + "\" is a " +
                                       std::string(to_string(f.type)) + ", not a " + std::string(to_string(type)));
        return f;
    }
    require_metric_name(name);
    families_.push_back(Family{std::string(name), type, std::string(help), {}});
    return families_.back();
}

void PrometheusWriter::declare(std::string_view name, PrometheusType type, std::string_view help) {
    family(name, type, help);
}

void PrometheusWriter::append_sample(std::string& out, std::string_view name, const std::vector<PrometheusLabel>& labels,
                                     std::string_view extra_label, std::string_view extra_value, double value) {
    out += name;
    if (!labels.empty() || !extra_label.empty()) {
        out += '{';
        bool first = true;
        auto add = [&](std::string_view label, std::string_view label_value) {
            if (!first) out += ',';
            first = false;
            out += label;
            out += "=\"";
            out += escape_prometheus_label(label_value);
            out += '"';
        };
        for (const auto& [label, label_value] : labels) {
            require_label_name(label);
            add(label, label_value);
        }
        if (!extra_label.empty()) add(extra_label, extra_value);
        out += '}';
    }
    out += ' ';
    out += format_prometheus_value(value);
    out += '\n';
}

void PrometheusWriter::counter(std::string_view name, std::string_view help,
                               std::initializer_list<PrometheusLabel> labels, double value) {
    counter(name, help, std::vector<PrometheusLabel>(labels), value);
}

void PrometheusWriter::counter(std::string_view name, std::string_view help, const std::vector<PrometheusLabel>& labels,
                               double value) {
    append_sample(family(name, PrometheusType::counter, help).samples, name, labels, {}, {}, value);
}

void PrometheusWriter::gauge(std::string_view name, std::string_view help, std::initializer_list<PrometheusLabel> labels,
                             double value) {
    gauge(name, help, std::vector<PrometheusLabel>(labels), value);
}

void PrometheusWriter::gauge(std::string_view name, std::string_view help, const std::vector<PrometheusLabel>& labels,
                             double value) {
    append_sample(family(name, PrometheusType::gauge, help).samples, name, labels, {}, {}, value);
}

void PrometheusWriter::histogram(std::string_view name, std::string_view help, const std::vector<PrometheusLabel>& labels,
                                 const HistogramSnapshot& histogram) {
    if (histogram.counts.size() != histogram.bounds.size() + 1)
        throw InvalidArgumentError("Prometheus: histogram \"" + std::string(name) + "\" has " +
                                   std::to_string(histogram.counts.size()) + " counts for " +
                                   std::to_string(histogram.bounds.size()) + " bounds (expected bounds + 1)");
    std::string& out = family(name, PrometheusType::histogram, help).samples;
    const std::string n(name);
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < histogram.bounds.size(); ++i) {
        cumulative += histogram.counts[i];
        append_sample(out, n + "_bucket", labels, "le", format_prometheus_value(histogram.bounds[i]),
                      static_cast<double>(cumulative));
    }
    cumulative += histogram.counts.back();
    append_sample(out, n + "_bucket", labels, "le", "+Inf", static_cast<double>(cumulative));
    append_sample(out, n + "_sum", labels, {}, {}, histogram.sum);
    append_sample(out, n + "_count", labels, {}, {}, static_cast<double>(cumulative));
}

void PrometheusWriter::append(const PrometheusWriter& other) {
    for (const auto& f : other.families_) {
        for (const auto& mine : families_)
            if (mine.name == f.name && mine.type != f.type) family(f.name, f.type, f.help);  // throws
    }
    for (const auto& f : other.families_) family(f.name, f.type, f.help).samples += f.samples;
}

std::string PrometheusWriter::str() const {
    std::string out;
    for (const auto& f : families_) {
        out += "# HELP " + f.name + " " + escape_help(f.help) + "\n";
        out += "# TYPE " + f.name + " " + std::string(to_string(f.type)) + "\n";
        out += f.samples;
    }
    return out;
}

}  // namespace failpipe
