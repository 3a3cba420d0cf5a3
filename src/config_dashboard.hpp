// The `dashboard` section of the config: where a worker runtime serves the web dashboard.
#pragma once

#include <string>
#include <vector>

#include "failpipe/config.hpp"
#include "failpipe/config_reader.hpp"

namespace failpipe::detail {

/// The keys of the `dashboard` section.
const std::vector<std::string>& dashboard_keys();
/// Reads the `dashboard` section (an object whose unknown keys were already refused).
void load_dashboard(ConfigObjectReader& section, Config& config);

}  // namespace failpipe::detail
