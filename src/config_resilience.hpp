// The loaders of the top-level keys `breakers` and `retryBudget` (rows in config_sections.cpp).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "failpipe/clock.hpp"
#include "failpipe/config.hpp"
#include "failpipe/config_reader.hpp"

namespace failpipe::detail {

/// What a section loader needs of the loader: where problems go, and the config's clock.
struct SectionContext {
    std::vector<ConfigIssue>& issues;
    std::size_t* dropped;
    std::shared_ptr<const Clock> clock;

    /// A reader of @p object at @p path whose problems go to issues (counted beyond the cap).
    ConfigObjectReader reader(const nlohmann::json& object, std::string path) const;
    /// Records a problem at @p path.
    void add(std::string path, std::string message) const;
};

/// `breakers`: builds Config::breakers (after `classification`: each middleware classifies with it).
void load_breakers(const nlohmann::json& value, const SectionContext& context, Config& config);
/// `retryBudget`: builds Config::retry_budget and wires it into Config::dispatcher.
void load_retry_budget(const nlohmann::json& value, const SectionContext& context, Config& config);

/// The keys of one breaker.
const std::vector<std::string>& breaker_keys();
/// The keys of one retry budget (the default one or a channel's).
const std::vector<std::string>& retry_budget_keys();

}  // namespace failpipe::detail
