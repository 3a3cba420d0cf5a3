// The checks behind ConfigLimits that are more than one comparison.
#include "config_bounds.hpp"

#include <iterator>
#include <vector>

#include "config_json.hpp"
#include "failpipe/config_limits.hpp"

namespace failpipe::detail {

using nlohmann::json;

std::string too_many(std::size_t limit, const char* what, std::size_t found) {
    return "expected at most " + std::to_string(limit) + " " + what + ", found " + std::to_string(found);
}

// A channel name of a pipeline or of the worker: its length is bounded so that the paths and
// messages built from it stay small.
std::optional<std::string> channel_name_problem(const std::string& name) {
    if (name.empty()) return "expected a non-empty channel name, found \"\"";
    if (name.size() > ConfigLimits::kMaxChannelNameBytes)
        return "expected a channel name of at most " + std::to_string(ConfigLimits::kMaxChannelNameBytes) +
               " bytes, found one of " + std::to_string(name.size()) + " bytes";
    return std::nullopt;
}

// The JSON pointer of the first array or object nested deeper than ConfigLimits::kMaxDepth in
// @p document, found without recursion (a document built in code may be nested a million deep).
std::optional<std::string> too_deep(const json& document) {
    struct Level {
        const json* value;
        json::const_iterator next;
        std::size_t index;
    };
    if (!document.is_structured()) return std::nullopt;
    std::vector<Level> stack{{&document, document.cbegin(), 0}};
    while (!stack.empty()) {
        Level& top = stack.back();
        if (top.next == top.value->cend()) {
            stack.pop_back();
            continue;
        }
        const auto child = top.next++;
        ++top.index;
        if (!child->is_structured()) continue;
        if (stack.size() >= ConfigLimits::kMaxDepth) {
            std::string path;
            for (const auto& level : stack) {
                const auto at = std::prev(level.next);
                path = level.value->is_object() ? child_path(path, at.key()) : child_path(path, level.index - 1);
            }
            return path;
        }
        stack.push_back({&*child, child->cbegin(), 0});
    }
    return std::nullopt;
}

std::string too_deep_message() {
    return "expected arrays and objects nested at most " + std::to_string(ConfigLimits::kMaxDepth) +
           " deep, found one deeper";
}

// A number of seconds: finite (checked by the reader), > 0 and at most ConfigLimits::kMaxSeconds,
// the same rule as the Redis adapter's timeouts.
bool seconds_in_range(double value) { return value > 0 && value <= ConfigLimits::kMaxSeconds; }

}  // namespace failpipe::detail
