// The runtime's config keys: `worker.threads` and `worker.shutdownGrace` (read with the rest of
// `worker`), and the `degradation` and `http` sections (rows in config_sections.cpp call these).
#pragma once

#include <string>
#include <vector>

#include "failpipe/config.hpp"
#include "failpipe/config_reader.hpp"

namespace failpipe::detail {

/// The runtime's keys of the `worker` section (appended to worker_keys()).
const std::vector<std::string>& worker_runtime_keys();
/// The keys of the `degradation` section.
const std::vector<std::string>& degradation_keys();
/// The keys of the `http` section.
const std::vector<std::string>& http_keys();

/// Reads `threads` and `shutdownGrace` of the `worker` section into config.pool.
void load_worker_runtime(ConfigObjectReader& worker, Config& config);
/// Reads the `degradation` section (an object whose unknown keys were already refused).
void load_degradation(ConfigObjectReader& section, Config& config);
/// Reads the `http` section (an object whose unknown keys were already refused).
void load_http(ConfigObjectReader& section, Config& config);

}  // namespace failpipe::detail
