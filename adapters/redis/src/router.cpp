#include "router.hpp"

#include "failpipe/error.hpp"

namespace failpipe::detail::redis {

Router::Router(std::vector<Endpoint> seeds, ClusterMode mode, ClusterSettings settings, Counters& counters)
    : seeds_(std::move(seeds)),
      mode_(mode),
      settings_(settings),
      single_(seeds_.front(), settings.connect_timeout, settings.command_timeout, settings.pool_size, counters),
      single_writes_(seeds_.front(), settings.connect_timeout, settings.command_timeout, settings.write_pool_size,
                     counters) {
    if (mode_ == ClusterMode::off) {
        if (seeds_.size() > 1) {
            throw InvalidArgumentError("failpipe::RedisAdapter: the URL names " + std::to_string(seeds_.size()) +
                                       " nodes, which only a Redis Cluster has, but cluster is \"no\"");
        }
        decided_.store(1, std::memory_order_release);
    } else {
        cluster_ = std::make_unique<ClusterClient>(seeds_, settings_, counters);
    }
}

bool Router::cluster() {
    const int decided = decided_.load(std::memory_order_acquire);
    if (decided != 0) return decided == 2;
    std::lock_guard lock(decide_mutex_);
    if (decided_.load(std::memory_order_acquire) == 0) {
        const bool is_cluster = cluster_->discover();  // throws ConnectionError when nobody answers
        if (!is_cluster && mode_ == ClusterMode::on) {
            throw ProtocolError("Redis at " + display() +
                                ": runs without cluster support, but the adapter was told it is a Redis Cluster "
                                "(cluster \"yes\"): point it at a cluster node, or use cluster \"auto\"");
        }
        if (!is_cluster && seeds_.size() > 1) {
            throw InvalidArgumentError("failpipe::RedisAdapter: the URL names " + std::to_string(seeds_.size()) +
                                       " nodes, which only a Redis Cluster has, but " + display() +
                                       " runs without cluster support");
        }
        if (is_cluster) logger().info("RedisAdapter: {} is a Redis Cluster node; {} masters", display(), cluster_->masters().size());
        if (!is_cluster) cluster_->drop_idle();  // the connection that asked: calls use single_ from now on
        decided_.store(is_cluster ? 2 : 1, std::memory_order_release);
    }
    return decided_.load(std::memory_order_acquire) == 2;
}

std::vector<std::string> Router::nodes() {
    if (cluster()) return cluster_->masters();
    const Endpoint& one = seeds_.front();
    return {(one.host.find(':') != std::string::npos ? "[" + one.host + "]" : one.host) + ":" + std::to_string(one.port)};
}

const Endpoint& Router::endpoint_of(std::uint16_t slot) {
    if (cluster()) return cluster_->endpoint_of(slot);
    return seeds_.front();
}

std::size_t Router::replicas_of(std::uint16_t slot) {
    if (cluster()) return cluster_->replicas_of(slot);
    return 0;
}

ClusterClient::Stats Router::cluster_stats() const noexcept {
    return cluster_ ? cluster_->stats() : ClusterClient::Stats{};
}

std::chrono::steady_clock::duration Router::command_timeout() const noexcept {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(settings_.command_timeout.count()));
}

void Router::throw_pool_exhausted(const std::string& where) const {
    throw TimeoutError("Redis at " + where + ": no pooled connection became free within " +
                       std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(command_timeout()).count()) +
                       " ms (pool_size " + std::to_string(settings_.pool_size) +
                       "; each worker blocked in reserve holds one)");
}

}  // namespace failpipe::detail::redis
