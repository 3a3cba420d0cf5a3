// serve_dashboard(): the dashboard of a worker runtime, from config `dashboard`.
#include "failpipe/config.hpp"
#include "failpipe/dashboard/dashboard_server.hpp"
#include "failpipe/dead_letters.hpp"
#include "failpipe/worker_pool.hpp"
#include "logging.hpp"

namespace failpipe::dashboard {

std::unique_ptr<DashboardServer> serve_dashboard(WorkerPool& pool, std::shared_ptr<AdapterInterface> adapter,
                                                 const Config& config, std::shared_ptr<const Metrics> metrics) {
    if (!config.dashboard.listen) return nullptr;
    DashboardOptions options;
    options.listen = *config.dashboard.listen;
    options.allow_non_loopback = config.dashboard.allow_non_loopback;
    options.allowed_hosts = config.dashboard.allowed_hosts;
    options.read_only = config.dashboard.read_only;
    if (!config.dashboard.token_file.empty()) options.token = read_token_file(config.dashboard.token_file);
    options.dead_letter_suffix = config.dispatcher.dead_letter_suffix;
    options.pipelines = std::make_shared<const FailureMiddlewareDispatcher::Options>(config.dispatcher);
    options.known_channels = configured_channels(config);
    options.on_expired = config.worker.on_expired;
    options.breakers = config.breakers;
    options.retry_budget = config.retry_budget;
    options.runtime_facts = [&pool] { return pool.health_facts(); };
    options.metrics = std::move(metrics);
    auto server = std::make_unique<DashboardServer>(std::move(adapter), std::move(options));
    server->start();
    if (config.dashboard.token_file.empty() && !config.dashboard.read_only)
        failpipe::detail::logger().info("dashboard: {} (token {}; set dashboard.tokenFile to keep it out of the log)",
                                        server->url(), server->token());
    else
        failpipe::detail::logger().info("dashboard: {}", server->url());
    return server;
}

}  // namespace failpipe::dashboard
