// The loader: checks and builds a parsed document section by section (see config_sections.cpp for
// where a new top-level key goes).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "failpipe/clock.hpp"
#include "failpipe/config.hpp"
#include "failpipe/error.hpp"
#include "failpipe/middleware_registry.hpp"

namespace failpipe::detail {

/// What loading a document gave: the config, and its problems in the order they were found.
struct LoadResult {
    Config config;
    std::vector<ConfigIssue> issues;
    std::size_t dropped = 0;  ///< issues beyond kMaxKeptIssues, only counted
};

/// Checks and builds @p document (nested at most ConfigLimits::kMaxDepth: the caller checks).
LoadResult load_document(const nlohmann::json& document, const MiddlewareRegistry& registry,
                         std::shared_ptr<const Clock> clock);

/// The top-level keys the loader knows, in the order its messages list them.
std::vector<std::string> top_level_keys();
/// The keys of the `worker` section.
const std::vector<std::string>& worker_keys();
/// The keys of the `deadLetters` section.
const std::vector<std::string>& dead_letters_keys();
/// The keys of the object form of `durability`.
const std::vector<std::string>& durability_keys();

}  // namespace failpipe::detail
