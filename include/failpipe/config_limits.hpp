/// @file config_limits.hpp
/// @brief ConfigLimits: the bounds every config loader enforces (docs/config.md, "Limits").
#pragma once

#include <cstddef>

namespace failpipe {

/// @brief The limits every loader (load_config, parse_config, load_config_file, `failpipe config
/// check`) enforces, so that any input is answered quickly and in bounded memory. A document beyond
/// them is refused with a ConfigError at the offending value. See docs/config.md, "Limits".
struct ConfigLimits {
    static constexpr std::size_t kMaxDocumentBytes = 4 * 1024 * 1024;  ///< The text of a document.
    static constexpr std::size_t kMaxDepth = 64;                       ///< Nesting of arrays and objects.
    static constexpr std::size_t kMaxPipelines = 1000;                 ///< Channels in `pipelines`.
    static constexpr std::size_t kMaxPipelineLength = 100;             ///< Middlewares in one pipeline.
    static constexpr std::size_t kMaxMiddlewares = 1000;               ///< Middlewares in all pipelines.
    static constexpr std::size_t kMaxClassificationRules = 100;        ///< Rules in `classification`.
    static constexpr std::size_t kMaxWorkerChannels = 1000;            ///< Names in `worker.channels`.
    static constexpr std::size_t kMaxChannelNameBytes = 1024;          ///< A channel name.
    static constexpr std::size_t kMaxGroups = 1000;                    ///< Groups in `groups`.
    static constexpr std::size_t kMaxGroupedChannels = 10000;          ///< Channels in all of `groups` together.
    static constexpr std::size_t kMaxReportedIssues = 20;  ///< Issues listed; then one "and N more problems".
    static constexpr double kMaxSeconds = 1e9;              ///< Delays and timeouts (the Redis adapter's limit).
    static constexpr long long kMaxAttempts = 1000000000;   ///< A middleware's `maxAttempts`.
    static constexpr long long kMaxBatchSize = 100000;      ///< `worker.batchSize`.
    static constexpr long long kMaxWaitMs = 1000000000000;  ///< `worker.waitMs`: kMaxSeconds in milliseconds.
};

}  // namespace failpipe
