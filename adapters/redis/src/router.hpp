// Where a call of the adapter goes: the one server of the URL, or the master of a hash slot of a
// Redis Cluster. The adapter asks the router for a connection to the node that holds a slot; on
// one server every slot is that server.
//
// Which one it is, is decided once, lazily, at the first call: `off` never asks (exactly the
// behaviour before clusters), `on` requires a cluster, `automatic` asks the URL's nodes (INFO
// cluster). A decision that failed for want of an answer is tried again at the next call.
//
// Thread safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "cluster_client.hpp"
#include "connection.hpp"
#include "failpipe/logging.hpp"
#include "pool.hpp"
#include "url.hpp"

namespace failpipe::detail::redis {

enum class ClusterMode { automatic, on, off };

class Router {
public:
    /// @p seeds from parse_seed_list (never empty); with ClusterMode::off only one is allowed.
    Router(std::vector<Endpoint> seeds, ClusterMode mode, ClusterSettings settings, Counters& counters);
    Router(const Router&) = delete;
    Router& operator=(const Router&) = delete;

    /// True on a cluster. Decides at the first call (see above): throws ConnectionError when no node
    /// of the URL answers, ProtocolError when `on` meets a plain Redis, InvalidArgumentError when a
    /// list of nodes meets a plain Redis.
    bool cluster();

    /// Runs @p f on a connection to the node that holds @p slot. On a cluster as
    /// ClusterClient::with_slot (redirections followed; ASK waited out, since the adapter's scripts
    /// touch keys they do not name); on one server on a pooled connection, tried once more on a new
    /// one after an I/O failure of a connection that had worked before (a restarted server drops
    /// idle connections), never after an error reply or a timeout. Any exception out of @p f drops
    /// its connection (a pipeline may have unread replies).
    template <class F>
    auto with_slot(std::uint16_t slot, F&& f, Lane lane = Lane::shared) -> decltype(f(std::declval<Connection&>())) {
        if (cluster()) return cluster_->with_slot(slot, std::forward<F>(f), AskPolicy::wait, lane);
        auto lease = (lane == Lane::writes ? single_writes_ : single_).acquire(std::chrono::steady_clock::now() + command_timeout());
        if (!lease) throw_pool_exhausted(seeds_.front().display);
        Connection& connection = **lease;
        const bool reused = connection.reused();
        try {
            return f(connection);
        } catch (const TimeoutError&) {
            connection.disconnect();
            throw;
        } catch (const ConnectionError& e) {
            // Connection::fail drops the connection on an I/O failure; an error reply leaves it up.
            const bool io_failure = !connection.connected();
            connection.disconnect();
            if (!reused || !io_failure) throw;
            logger().info("RedisAdapter: connection to {} lost ({}); trying once more on a new one",
                          seeds_.front().display, e.what());
        } catch (...) {
            connection.disconnect();
            throw;
        }
        try {
            return f(connection);
        } catch (...) {
            connection.disconnect();
            throw;
        }
    }

    /// The nodes that serve data: the masters of a cluster (`host:port`), or the one server.
    std::vector<std::string> nodes();
    /// Runs @p f on a connection to node @p name (from nodes()), no redirection followed.
    template <class F>
    auto with_node(const std::string& name, F&& f) -> decltype(f(std::declval<Connection&>())) {
        if (cluster()) return cluster_->with_node(name, std::forward<F>(f));
        return with_slot(0, std::forward<F>(f));
    }

    /// The endpoint of the node that holds @p slot now (the one server when not a cluster).
    const Endpoint& endpoint_of(std::uint16_t slot);
    /// Replicas of the node that holds @p slot, from the last slot map (0 when not a cluster).
    std::size_t replicas_of(std::uint16_t slot);

    /// `host:port/db` of the URL's first node, for messages.
    const std::string& display() const noexcept { return seeds_.front().display; }
    /// The URL's first node (the one server when not a cluster).
    const Endpoint& first() const noexcept { return seeds_.front(); }

    /// Redirections and retries so far (all zero when not a cluster).
    ClusterClient::Stats cluster_stats() const noexcept;

private:
    std::chrono::steady_clock::duration command_timeout() const noexcept;
    [[noreturn]] void throw_pool_exhausted(const std::string& where) const;

    std::vector<Endpoint> seeds_;
    ClusterMode mode_;
    ClusterSettings settings_;
    Pool single_;                             // the one server (seeds_.front())
    Pool single_writes_;                      // its connections for the write combiners
    std::unique_ptr<ClusterClient> cluster_;  // made unless mode is off
    std::mutex decide_mutex_;
    std::atomic<int> decided_{0};  // 0 not yet, 1 one server, 2 cluster
};

}  // namespace failpipe::detail::redis
