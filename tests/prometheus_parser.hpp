// A strict reader of the Prometheus text exposition format 0.0.4, for tests: every line's grammar,
// HELP and TYPE once per family and before its samples, each family one group, no sample twice,
// histograms with ascending `le`, cumulative (non-decreasing) buckets, a `+Inf` bucket equal to
// `_count`, and a `_sum`. Problems are collected as text, so a test can show them all at once.
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace failpipe::test {

struct PromSample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0.0;
};

struct PromFamily {
    std::string type;
    std::string help;
    bool has_help = false;
    std::vector<PromSample> samples;
};

class PromExposition {
public:
    std::map<std::string, PromFamily> families;
    std::vector<std::string> problems;

    /// The value of the sample @p name with exactly @p labels, or nullopt.
    std::optional<double> value(const std::string& name, const std::map<std::string, std::string>& labels = {}) const {
        for (const auto& [family, f] : families)
            for (const auto& s : f.samples)
                if (s.name == name && s.labels == labels) return s.value;
        return std::nullopt;
    }

    /// Every sample of @p name.
    std::vector<PromSample> samples(const std::string& name) const {
        std::vector<PromSample> out;
        for (const auto& [family, f] : families)
            for (const auto& s : f.samples)
                if (s.name == name) out.push_back(s);
        return out;
    }

    static PromExposition parse(std::string_view text) {
        PromExposition e;
        e.run(text);
        return e;
    }

private:
    std::string current_;  // the family whose lines are being read
    std::set<std::string> finished_;
    std::set<std::string> seen_samples_;

    static bool name_char(char c, bool first, bool colon) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
               (!first && c >= '0' && c <= '9');
    }
    static bool valid_name(std::string_view n, bool colon) {
        if (n.empty()) return false;
        for (std::size_t i = 0; i < n.size(); ++i)
            if (!name_char(n[i], i == 0, colon)) return false;
        return true;
    }
    static std::optional<double> number(std::string_view v) {
        if (v == "+Inf" || v == "Inf") return HUGE_VAL;
        if (v == "-Inf") return -HUGE_VAL;
        if (v == "NaN") return NAN;
        if (v.empty()) return std::nullopt;
        const std::string s(v);
        char* end = nullptr;
        const double d = std::strtod(s.c_str(), &end);
        if (end != s.c_str() + s.size() || s.find_first_of("iInN") != std::string::npos) return std::nullopt;
        return d;
    }

    void problem(std::size_t line, const std::string& what) {
        problems.push_back("line " + std::to_string(line) + ": " + what);
    }

    // The family a sample name belongs to (histogram suffixes stripped when that family exists).
    std::string family_of(const std::string& name) const {
        for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
            if (name.size() > suffix.size() && name.ends_with(suffix)) {
                const std::string base = name.substr(0, name.size() - suffix.size());
                auto it = families.find(base);
                if (it != families.end() && it->second.type == "histogram") return base;
            }
        }
        return name;
    }

    void enter(const std::string& family, std::size_t line) {
        if (family == current_) return;
        if (finished_.count(family) != 0) problem(line, "family " + family + " is split into several groups");
        if (!current_.empty()) finished_.insert(current_);
        current_ = family;
    }

    void comment(std::string_view rest, std::size_t line) {
        const bool help = rest.starts_with("HELP ");
        const bool type = rest.starts_with("TYPE ");
        if (!help && !type) return;  // other comments are allowed
        rest.remove_prefix(5);
        const auto space = rest.find(' ');
        const std::string name(rest.substr(0, space));
        const std::string_view tail = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
        if (!valid_name(name, true)) problem(line, "bad metric name in HELP/TYPE: " + name);
        enter(name, line);
        PromFamily& f = families[name];
        if (help) {
            if (f.has_help) problem(line, "second HELP for " + name);
            f.has_help = true;
            for (std::size_t i = 0; i < tail.size(); ++i)
                if (tail[i] == '\\' && (i + 1 >= tail.size() || (tail[i + 1] != '\\' && tail[i + 1] != 'n')))
                    problem(line, "bad escape in HELP of " + name);
            f.help = std::string(tail);
        } else {
            if (!f.type.empty()) problem(line, "second TYPE for " + name);
            if (!f.samples.empty()) problem(line, "TYPE after samples of " + name);
            if (tail != "counter" && tail != "gauge" && tail != "histogram" && tail != "summary" && tail != "untyped")
                problem(line, "unknown TYPE " + std::string(tail));
            f.type = std::string(tail);
        }
    }

    // label_name="value",... up to the closing brace; returns the position after it, or npos.
    std::size_t labels(std::string_view s, std::size_t i, std::map<std::string, std::string>& out, std::size_t line) {
        while (i < s.size() && s[i] != '}') {
            const auto eq = s.find('=', i);
            if (eq == std::string_view::npos) return std::string_view::npos;
            const std::string label(s.substr(i, eq - i));
            if (!valid_name(label, false)) problem(line, "bad label name: " + label);
            if (eq + 1 >= s.size() || s[eq + 1] != '"') return std::string_view::npos;
            std::string value;
            std::size_t j = eq + 2;
            for (; j < s.size() && s[j] != '"'; ++j) {
                if (s[j] == '\n') return std::string_view::npos;
                if (s[j] != '\\') {
                    value += s[j];
                    continue;
                }
                if (++j >= s.size()) return std::string_view::npos;
                if (s[j] == 'n') value += '\n';
                else if (s[j] == '\\' || s[j] == '"') value += s[j];
                else problem(line, std::string("bad escape \\") + s[j] + " in label " + label);
            }
            if (j >= s.size()) return std::string_view::npos;
            if (!out.emplace(label, value).second) problem(line, "label " + label + " twice");
            i = j + 1;
            if (i < s.size() && s[i] == ',') ++i;
        }
        return i < s.size() ? i + 1 : std::string_view::npos;
    }

    void sample(std::string_view s, std::size_t line) {
        std::size_t i = 0;
        while (i < s.size() && name_char(s[i], i == 0, true)) ++i;
        PromSample smp;
        smp.name = std::string(s.substr(0, i));
        if (smp.name.empty()) return problem(line, "no metric name: " + std::string(s));
        if (i < s.size() && s[i] == '{') {
            i = labels(s, i + 1, smp.labels, line);
            if (i == std::string_view::npos) return problem(line, "bad label set: " + std::string(s));
        }
        if (i >= s.size() || s[i] != ' ') return problem(line, "no space before the value: " + std::string(s));
        std::string_view rest = s.substr(i + 1);
        const auto space = rest.find(' ');
        const auto v = number(rest.substr(0, space));
        if (!v) return problem(line, "bad value: " + std::string(rest));
        if (space != std::string_view::npos && !number(rest.substr(space + 1)))
            return problem(line, "bad timestamp: " + std::string(rest));
        smp.value = *v;
        const std::string family = family_of(smp.name);
        enter(family, line);
        PromFamily& f = families[family];
        if (f.type.empty()) problem(line, "sample of " + family + " before its TYPE");
        if (f.type == "counter" && !family.ends_with("_total")) problem(line, "counter " + family + " lacks _total");
        std::string key = smp.name;
        for (const auto& [k, val] : smp.labels) key += "|" + k + "=" + val;
        if (!seen_samples_.insert(key).second) problem(line, "sample twice: " + key);
        f.samples.push_back(std::move(smp));
    }

    void check_histograms() {
        for (const auto& [name, f] : families) {
            if (f.type != "histogram") continue;
            std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
            std::map<std::map<std::string, std::string>, double> counts;
            std::set<std::map<std::string, std::string>> sums;
            for (const auto& s : f.samples) {
                auto labels = s.labels;
                if (s.name == name + "_bucket") {
                    auto le = labels.find("le");
                    if (le == labels.end()) {
                        problems.push_back(name + ": bucket without le");
                        continue;
                    }
                    const auto bound = number(le->second);
                    if (!bound) problems.push_back(name + ": bad le " + le->second);
                    labels.erase(le);
                    buckets[labels].emplace_back(bound.value_or(0.0), s.value);
                } else if (s.name == name + "_count") {
                    counts[labels] = s.value;
                } else if (s.name == name + "_sum") {
                    sums.insert(labels);
                } else {
                    problems.push_back(name + ": unexpected sample " + s.name);
                }
            }
            for (const auto& [labels, list] : buckets) {
                for (std::size_t i = 1; i < list.size(); ++i) {
                    if (!(list[i].first > list[i - 1].first)) problems.push_back(name + ": le not ascending");
                    if (list[i].second < list[i - 1].second) problems.push_back(name + ": buckets not cumulative");
                }
                if (list.empty() || !std::isinf(list.back().first)) {
                    problems.push_back(name + ": no +Inf bucket");
                    continue;
                }
                auto c = counts.find(labels);
                if (c == counts.end()) problems.push_back(name + ": no _count");
                else if (c->second != list.back().second) problems.push_back(name + ": _count differs from +Inf bucket");
                if (sums.count(labels) == 0) problems.push_back(name + ": no _sum");
            }
            if (buckets.size() != counts.size()) problems.push_back(name + ": _count without buckets");
        }
    }

    void run(std::string_view text) {
        if (!text.empty() && !text.ends_with('\n')) problems.push_back("the document does not end with a newline");
        std::size_t line = 0;
        while (!text.empty()) {
            ++line;
            const auto nl = text.find('\n');
            const std::string_view l = text.substr(0, nl);
            text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
            if (l.empty()) continue;
            if (l.front() == '#') {
                if (l.size() > 1 && l[1] == ' ') comment(l.substr(2), line);
                continue;
            }
            sample(l, line);
        }
        check_histograms();
    }
};

}  // namespace failpipe::test
