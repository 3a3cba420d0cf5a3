// Collecting a document's problems: bounded while they are found, sorted into document order and
// capped when they are reported.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "failpipe/config_reader.hpp"
#include "failpipe/error.hpp"

namespace failpipe::detail {

/// How many issues a load keeps before it only counts them: enough to pick the first
/// ConfigLimits::kMaxReportedIssues in document order, bounded so a document of a million bad keys
/// costs a counter, not a million messages.
constexpr std::size_t kMaxKeptIssues = 1000;

/// Lets the loader give the readers it creates its overflow counter.
struct IssueCap {
    static void attach(ConfigObjectReader& reader, std::size_t* dropped) { reader.dropped_ = dropped; }
};

/// True when one more issue may be kept; otherwise counts it in @p dropped (when there is a cap).
bool has_room(const std::vector<ConfigIssue>& issues, std::size_t* dropped);

/// An issue for every key of @p object (at @p path) not in @p known, with the nearest known key.
void reject_unknown_keys(const nlohmann::json& object, const std::string& path, const std::vector<std::string>& known,
                         std::vector<ConfigIssue>& issues, std::size_t* dropped);

/// Keeps the first ConfigLimits::kMaxReportedIssues and adds `and 12 more problems`.
void cap_issues(std::vector<ConfigIssue>& issues, std::size_t dropped);

/// Sorts by JSON pointer in nlohmann's order (for a document built in code, which has no text).
void sort_issues(std::vector<ConfigIssue>& issues);

}  // namespace failpipe::detail
