// Collecting a document's problems: bounded, sorted and capped.
#include "config_issues.hpp"

#include <algorithm>
#include <string_view>

#include "config_json.hpp"
#include "failpipe/config_limits.hpp"

namespace failpipe::detail {

using nlohmann::json;

bool has_room(const std::vector<ConfigIssue>& issues, std::size_t* dropped) {
    if (dropped == nullptr || issues.size() < kMaxKeptIssues) return true;
    ++*dropped;
    return false;
}

void reject_unknown_keys(const json& object, const std::string& path, const std::vector<std::string>& known,
                         std::vector<ConfigIssue>& issues, std::size_t* dropped) {
    if (!object.is_object()) return;
    for (auto it = object.begin(); it != object.end(); ++it) {
        if (std::find(known.begin(), known.end(), it.key()) != known.end()) continue;
        // The message (and its "did you mean") is only built for an issue that is kept.
        if (has_room(issues, dropped)) issues.push_back({child_path(path, it.key()), unknown_key_message(it.key(), known)});
    }
}

// `and 12 more problems`: what a refusal says after the first kMaxReportedIssues issues.
void cap_issues(std::vector<ConfigIssue>& issues, std::size_t dropped) {
    const std::size_t total = issues.size() + dropped;
    if (total <= ConfigLimits::kMaxReportedIssues) return;
    issues.resize(ConfigLimits::kMaxReportedIssues);
    const std::size_t more = total - ConfigLimits::kMaxReportedIssues;
    issues.push_back({"", "and " + std::to_string(more) + " more problem" + (more == 1 ? "" : "s") + " (only the first " +
                              std::to_string(ConfigLimits::kMaxReportedIssues) + " are listed)"});
}
namespace {

// Issues are reported in document order as nlohmann sees it: object keys sorted, array elements
// by index (numerically, so /10 comes after /9). A stable sort keeps several issues of one value
// in the order they were found.
bool pointer_less(const std::string& a, const std::string& b) {
    auto split = [](const std::string& p) {
        std::vector<std::string_view> tokens;
        std::string_view rest(p);
        while (!rest.empty()) {
            rest.remove_prefix(1);  // the leading '/'
            auto slash = rest.find('/');
            tokens.push_back(rest.substr(0, slash));
            rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
        }
        return tokens;
    };
    auto is_index = [](std::string_view t) {
        return !t.empty() && std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    auto ta = split(a);
    auto tb = split(b);
    for (std::size_t i = 0; i < ta.size() && i < tb.size(); ++i) {
        if (ta[i] == tb[i]) continue;
        if (is_index(ta[i]) && is_index(tb[i])) {
            if (ta[i].size() != tb[i].size()) return ta[i].size() < tb[i].size();
        }
        return ta[i] < tb[i];
    }
    return ta.size() < tb.size();
}

}  // namespace

void sort_issues(std::vector<ConfigIssue>& issues) {
    std::stable_sort(issues.begin(), issues.end(),
                     [](const ConfigIssue& a, const ConfigIssue& b) { return pointer_less(a.path, b.path); });
}

}  // namespace failpipe::detail
