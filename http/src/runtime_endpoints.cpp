#include "failpipe/http/runtime_endpoints.hpp"

#include <mutex>
#include <optional>

#include "failpipe/channel_stats.hpp"

namespace failpipe::http {
namespace {

// The broker probe (one in flight at most, whatever the rate of /health requests) and the previous
// report, so that "dead letters growing" means since the last probe.
struct HealthHistory {
    HealthHistory(std::shared_ptr<InspectionAdapter> adapter, HealthOptions options)
        : probe(std::move(adapter), std::move(options)) {}
    BrokerProbe probe;
    std::mutex mutex;
    std::optional<HealthReport> previous;
};

Endpoint health_endpoint(WorkerPool& pool, std::shared_ptr<AdapterInterface> adapter, HealthOptions options) {
    auto history = std::make_shared<HealthHistory>(std::move(adapter), std::move(options));
    return [&pool, history] {
        const RuntimeHealthFacts facts = pool.health_facts();
        // The broker is probed outside the lock: a probe may wait up to the timeout for a slow
        // broker, and the next /health (a liveness probe with a short timeout) must not queue
        // behind it.
        std::optional<HealthReport> previous;
        {
            std::lock_guard lock(history->mutex);
            previous = history->previous;
        }
        const BrokerHealthFacts broker = history->probe.probe();
        HealthReport report = evaluate_health(&broker, &facts, previous ? &*previous : nullptr);
        Reply reply{report.status == HealthStatus::unhealthy ? 503 : 200, report.to_json()};
        std::lock_guard lock(history->mutex);
        history->previous = std::move(report);
        return reply;
    };
}

}  // namespace

std::unique_ptr<EndpointServer> serve_runtime(WorkerPool& pool, std::shared_ptr<Metrics> metrics,
                                              std::shared_ptr<AdapterInterface> adapter,
                                              RuntimeEndpointsOptions options) {
    if (!metrics) throw InvalidArgumentError("serve_runtime: metrics must not be null");
    if (!adapter) throw InvalidArgumentError("serve_runtime: the adapter must not be null");
    if (!(options.health_timeout.count() > 0.0) || options.health_timeout.count() > 1e9)
        throw InvalidArgumentError("serve_runtime: health_timeout must be above 0 and at most 1e9 s");
    // The collectors stay in @p metrics; they act only while this server lives (the token dies with
    // it), so a Metrics that outlives the server never reaches into a pool that may be gone, and a
    // server started again on the same Metrics does not write every gauge twice.
    auto alive = std::make_shared<const bool>(true);
    std::weak_ptr<const bool> token = alive;
    metrics->add_collector([&pool, token](PrometheusWriter& writer) {
        if (auto held = token.lock()) pool.write_gauges(writer);
    });
    // The suffix /health counts dead letters under: both say the same of a channel.
    ChannelStatsOptions suffixes;
    suffixes.dead_letter_suffix = options.dead_letter_suffix;
    metrics->add_collector([token, depths = depth_collector(adapter, options.channels, suffixes)](PrometheusWriter& writer) {
        if (auto held = token.lock()) depths(writer);
    });
    metrics->add_collector([token, adapter](PrometheusWriter& writer) {
        if (auto held = token.lock()) adapter->write_metrics(writer);
    });

    HealthOptions health;
    health.channels = options.channels;
    health.dead_letter_suffix = options.dead_letter_suffix;
    health.timeout = options.health_timeout;

    EndpointServerOptions server;
    server.listen = options.listen;
    server.allow_non_loopback = options.allow_non_loopback;
    server.metrics = [metrics, alive] { return Reply{200, metrics->to_prometheus()}; };
    server.health = health_endpoint(pool, std::move(adapter), std::move(health));
    return std::make_unique<EndpointServer>(std::move(server));
}

}  // namespace failpipe::http
