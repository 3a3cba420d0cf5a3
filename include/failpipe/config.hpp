/// @file config.hpp
/// @brief Loading a deployment's JSON config: pipelines by channel, final behaviour, classification, worker settings.
///
/// Every middleware is built and checked at load. A bad document is refused with ConfigError,
/// which lists every problem with the JSON pointer of the offending value, what was expected and
/// what was found; an unknown key is an error that offers the nearest known key. The format is
/// documented in docs/config.md and config/schema.json.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "failpipe/circuit_breaker.hpp"
#include "failpipe/classifier.hpp"
#include "failpipe/clock.hpp"
#include "failpipe/config_limits.hpp"
#include "failpipe/durability_setting.hpp"
#include "failpipe/listen_address.hpp"
#include "failpipe/failure_middleware_dispatcher.hpp"
#include "failpipe/middleware_registry.hpp"
#include "failpipe/retry_budget.hpp"
#include "failpipe/shard_groups.hpp"
#include "failpipe/worker.hpp"
#include "failpipe/worker_pool.hpp"

namespace failpipe {

/// @brief Config `dashboard`: the web dashboard a worker runtime serves (docs/dashboard.md).
struct DashboardConfig {
    std::optional<ListenAddress> listen;  ///< `dashboard.listen` (absent: no dashboard).
    bool read_only = false;               ///< `dashboard.readOnly`: refuse replays and purges.
    std::string token_file;               ///< `dashboard.tokenFile` (empty: a random token, logged at start).
    bool allow_non_loopback = false;      ///< `dashboard.allowNonLoopback`.
    /// `dashboard.allowedHosts`: Host names the dashboard answers besides its listen address and
    /// loopback (DashboardOptions::allowed_hosts; needed behind a name or on `0.0.0.0`).
    std::vector<std::string> allowed_hosts;
};

/// @brief A loaded, checked configuration.
struct Config {
    FailureMiddlewareDispatcher::Options dispatcher;  ///< Pipelines, final behaviour, dead-letter suffix.
    Classifier classifier;                            ///< Rules from `classification`.
    WorkerOptions worker;                             ///< From `worker`.
    Seconds visibility_timeout{30.0};                 ///< From `worker.visibilityTimeout`: for the adapter.
    WorkerPoolOptions pool;                           ///< From `worker.threads`, `worker.shutdownGrace`, `degradation`.
    std::optional<ListenAddress> http_listen;         ///< From `http.listen` (absent: no /metrics, /health server).
    bool http_allow_non_loopback = false;             ///< From `http.allowNonLoopback`.
    DashboardConfig dashboard;                        ///< From `dashboard`.
    /// From `maxMessageBytes` (0 = no limit): for the adapter's Options::max_message_bytes.
    std::size_t max_message_bytes = 0;
    nlohmann::json document;                          ///< The document it was loaded from.
    /// From `breakers`, in name order: `use()` each on the workers (they are shared, and so is
    /// their state); a handler finds one by name with breaker(). See docs/breakers.md.
    std::vector<std::shared_ptr<CircuitBreakerMiddleware>> breakers;
    /// From `retryBudget` (null when absent). Already in dispatcher.retry_budget; `observe()` the
    /// workers with it too, so it counts first attempts. See docs/retry-budget.md.
    std::shared_ptr<RetryBudget> retry_budget;
    /// The shard groups of the pipelines, `worker.channels` and `groups`: which channels share one
    /// hash tag on a Redis Cluster. See docs/shard-groups.md.
    ShardGroups shard_groups;
    /// From `keyLayout` (absent: unset, which means `prefix` unless the Redis URL says
    /// `?keyLayout=groups`). `groups` puts each group's keys under `{prefix:group}`: give the adapter
    /// shard_groups (RedisAdapter::with_key_layout does). See docs/shard-groups.md, "Key layout".
    std::optional<KeyLayout> key_layout;
    /// From `durability` (absent: unset, which means `master` unless the Redis URL says
    /// `?durability=replicas`): when a settle or a push counts as done. RedisAdapter::with_config
    /// gives it to the adapter. See docs/config.md, "Durability".
    std::optional<DurabilitySetting> durability;

    /// @brief The breaker named @p name, or null.
    std::shared_ptr<CircuitBreaker> breaker(std::string_view name) const {
        for (const auto& middleware : breakers)
            if (middleware->breaker()->name() == name) return middleware->breaker();
        return nullptr;
    }

    /// @brief A dispatcher over this config's pipelines.
    FailureMiddlewareDispatcher make_dispatcher() const { return FailureMiddlewareDispatcher(dispatcher); }
};

/// @brief Checks and builds @p document. Throws ConfigError listing the problems: the first
/// ConfigLimits::kMaxReportedIssues in document order, then one issue with the empty path saying how
/// many more there are.
/// @param registry the middleware types known (built-ins plus the user's).
/// @param clock    the clock dead-letter middlewares record time with (null = system clock).
Config load_config(const nlohmann::json& document, const MiddlewareRegistry& registry = MiddlewareRegistry::with_builtins(),
                   std::shared_ptr<const Clock> clock = nullptr);

/// @brief Parses @p text as JSON (a syntax error is a ConfigError naming line and column) and loads it.
Config parse_config(std::string_view text, const MiddlewareRegistry& registry = MiddlewareRegistry::with_builtins(),
                    std::shared_ptr<const Clock> clock = nullptr);

/// @brief Reads @p path and parses it. An unreadable file, one that is not a regular file (a FIFO,
/// a device, a directory) and one larger than ConfigLimits::kMaxDocumentBytes are ConfigErrors; a
/// FIFO is refused without waiting for a writer, and no more than the limit is ever read.
Config load_config_file(const std::filesystem::path& path,
                        const MiddlewareRegistry& registry = MiddlewareRegistry::with_builtins(),
                        std::shared_ptr<const Clock> clock = nullptr);

}  // namespace failpipe
