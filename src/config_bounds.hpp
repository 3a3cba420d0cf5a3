// The checks behind ConfigLimits that are not a single number compared: counts with their message,
// channel names, nesting depth. (The numbers themselves are in include/failpipe/config_limits.hpp.)
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace failpipe::detail {

/// `expected at most 100 <what>, found 120`.
std::string too_many(std::size_t limit, const char* what, std::size_t found);
/// What is wrong with a channel name of a pipeline or of the worker, if anything.
std::optional<std::string> channel_name_problem(const std::string& name);
/// The JSON pointer of the first array or object nested deeper than ConfigLimits::kMaxDepth.
std::optional<std::string> too_deep(const nlohmann::json& document);
std::string too_deep_message();
/// A number of seconds within the adapters' rule: > 0 and at most ConfigLimits::kMaxSeconds.
bool seconds_in_range(double value);

}  // namespace failpipe::detail
