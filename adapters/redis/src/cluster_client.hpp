// A Redis Cluster client over hiredis: slot map, one connection pool per node, MOVED/ASK,
// TRYAGAIN/CLUSTERDOWN, refresh on topology change and on connection failure.
//
// Why here and not a library: Debian 12 ships hiredis 0.14 only (libhiredis-dev); neither
// hiredis-cluster (Nordix) nor hiredis-vip is packaged, and vendoring one would bring a second
// connection and error layer beside connection.hpp/errors.cpp. The cluster part a queue needs is
// small (every call names one slot), so it is written here over the same Connection and Pool, and
// every error keeps the adapter's mapping. See docs/cluster.md.
//
// Thread safety: every method may be called from any thread. The slot map is read under a shared
// lock; refreshes take it exclusively for the swap only. Nodes are never destroyed before the
// client, so a pointer to one stays valid while its connection is borrowed.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cluster_slots.hpp"
#include "connection.hpp"
#include "failpipe/error.hpp"
#include "pool.hpp"
#include "url.hpp"

namespace failpipe::detail::redis {

/// Parses `redis://[user:password@]host1[:port1][,host2[:port2]...][/db]`: one Endpoint per host,
/// each with the URL's credentials and database. A URL without a comma gives one endpoint (exactly
/// what parse_url gives). Throws InvalidArgumentError (the URL redacted) for an empty host in the list.
std::vector<Endpoint> parse_seed_list(std::string_view url);

/// The URL as it may be shown (credentials as `***`), for one node or a seed list.
std::string redacted_url(std::string_view url);

/// A MOVED or ASK reply: the slot lives on another node for good (MOVED) or, during a migration,
/// this key does (ASK). Derives from ProtocolError with the text an unhandled error reply has, so a
/// path that does not follow redirections reports it as before.
class ClusterRedirect : public ProtocolError {
public:
    enum class Kind { moved, ask };
    ClusterRedirect(const std::string& what, Kind kind, std::uint16_t slot, std::string host, int port)
        : ProtocolError(what), kind_(kind), slot_(slot), host_(std::move(host)), port_(port) {}
    Kind kind() const noexcept { return kind_; }
    std::uint16_t slot() const noexcept { return slot_; }
    const std::string& host() const noexcept { return host_; }
    int port() const noexcept { return port_; }

private:
    Kind kind_;
    std::uint16_t slot_;
    std::string host_;
    int port_;
};

/// A cluster state that passes: TRYAGAIN (a multi-key command during a migration), CLUSTERDOWN (no
/// quorum, or a slot without a master), or a script stopped at a key of its slot that is migrating.
/// A ConnectionError (retryable) with the text errors.cpp gives these replies.
class ClusterBusy : public ConnectionError {
public:
    ClusterBusy(const std::string& what, std::string code) : ConnectionError(what), code_(std::move(code)) {}
    const std::string& code() const noexcept { return code_; }

private:
    std::string code_;
};

/// Throws ClusterRedirect for MOVED/ASK, ClusterBusy for TRYAGAIN/CLUSTERDOWN and scripts stopped by
/// a migrating key; returns for any other reply (check those with throw_if_error_reply).
void throw_if_cluster_reply(const redisReply& reply, const std::string& endpoint, std::string_view command);

/// What to do with an ASK. `follow`: ASKING + the command on the importing node (right for a command
/// whose keys are all named). `wait`: retry on the owner until the migration is over (right for a
/// script that touches keys it does not name: on the importing node it would miss the keys that
/// have not moved yet).
enum class AskPolicy { follow, wait };

/// Which of a node's two pools a call borrows from: `shared` (reserves, which may block, and
/// inspection: pool_size connections) or `writes` (the write combiner's round trips: never behind a
/// blocked reserve, so a settle cannot wait for a reserve to time out).
enum class Lane { shared, writes };

struct ClusterSettings {
    Seconds connect_timeout{2.0};
    Seconds command_timeout{5.0};
    std::size_t pool_size = 16;
    /// Connections per node for the write combiners (made only as they are needed).
    std::size_t write_pool_size = 16;
};

class ClusterClient {
public:
    /// Counters for stats and tests.
    struct Stats {
        std::uint64_t moved = 0;      ///< MOVED replies followed
        std::uint64_t asked = 0;      ///< ASK replies followed (or waited out)
        std::uint64_t busy = 0;       ///< TRYAGAIN/CLUSTERDOWN/migrating retries
        std::uint64_t refreshes = 0;  ///< slot maps loaded
    };

    /// @p seeds: where to ask first (never empty). Does not connect.
    ClusterClient(std::vector<Endpoint> seeds, ClusterSettings settings, Counters& counters);
    ClusterClient(const ClusterClient&) = delete;
    ClusterClient& operator=(const ClusterClient&) = delete;
    ~ClusterClient();

    /// Asks the seeds, in order, whether they run in cluster mode (`INFO cluster`) and, when they do,
    /// for the slot map (`CLUSTER SLOTS`). True: a cluster (the map is loaded). False: the first seed
    /// that answered runs without cluster support (a plain Redis). A seed that cannot be
    /// reached is skipped; ConnectionError (naming every seed and why) only when none answers;
    /// ProtocolError when one refuses (an ACL without CLUSTER SLOTS).
    bool discover();

    /// Loads the slot map again from a node that answers (the known masters first, then the seeds,
    /// then any node ever seen). At most one refresh runs at a time; a call within @p min_interval
    /// of the last one returns at once. Throws ConnectionError when no node answers.
    void refresh(std::chrono::milliseconds min_interval = std::chrono::milliseconds(0));

    /// Runs @p f on a pooled connection to the master of @p slot and returns what it returns.
    /// @p f reports redirections and passing states by throwing what throw_if_cluster_reply throws
    /// (run it on every reply before throw_if_error_reply). Then: MOVED updates the map and runs
    /// @p f again on the new owner (and reloads the whole map, at most every 100 ms); ASK as @p ask
    /// says; TRYAGAIN, CLUSTERDOWN and a refused connection (a master that died, until its replica
    /// is promoted) are retried with a growing pause for up to command_timeout, reloading the map,
    /// then fail with a ConnectionError that names the state. Any exception out of @p f drops its
    /// connection (a pipeline may have unread replies). An I/O failure on a connection that had
    /// worked before is tried once more (as RedisAdapter does on one server); a timeout never is.
    template <class F>
    auto with_slot(std::uint16_t slot, F&& f, AskPolicy ask = AskPolicy::follow, Lane lane = Lane::shared)
        -> decltype(f(std::declval<Connection&>())) {
        using Result = decltype(f(std::declval<Connection&>()));
        if constexpr (std::is_void_v<Result>) {
            run(slot, ask, lane, [&](Connection& connection) { f(connection); });
        } else {
            std::optional<Result> result;
            run(slot, ask, lane, [&](Connection& connection) { result.emplace(f(connection)); });
            return std::move(*result);
        }
    }

    /// One command on the master of @p slot (redirections and passing states handled as with_slot
    /// does); any other error reply is returned, not thrown.
    Reply command(std::uint16_t slot, const Args& args, AskPolicy ask = AskPolicy::follow);

    /// Runs @p f on a pooled connection to the node @p name (`host:port`, from masters()), without
    /// following redirections: for commands addressed to one node (INFO, SMEMBERS of its keys).
    template <class F>
    auto with_node(const std::string& name, F&& f) -> decltype(f(std::declval<Connection&>())) {
        Pool::Lease lease = lease_of(name);
        try {
            return f(*lease);
        } catch (...) {
            lease->disconnect();
            throw;
        }
    }

    /// `host:port` of every master that serves slots now, in the order of their first slot.
    std::vector<std::string> masters() const;
    /// `host:port` of the master of @p slot; empty when no master serves it.
    std::string master_of(std::uint16_t slot) const;
    /// Replicas the last map listed for the master of @p slot (0 when not covered).
    std::size_t replicas_of(std::uint16_t slot) const;
    /// The endpoint of the master of @p slot (refreshing once when not covered); throws like
    /// with_slot when no master serves it. Valid for the client's life.
    const Endpoint& endpoint_of(std::uint16_t slot);

    Stats stats() const noexcept;

    /// Closes every idle connection (Pool::drop_idle): after discover() found a plain Redis, the
    /// connection that asked is not used again, and the server should not keep it.
    void drop_idle() noexcept;

private:
    struct Node;
    using Body = std::function<void(Connection&)>;

    void run(std::uint16_t slot, AskPolicy ask, Lane lane, const Body& body);
    Node& node_at(const std::string& host, int port);
    Node* owner(std::uint16_t slot) const;
    Node& owner_or_refresh(std::uint16_t slot);
    Pool::Lease lease_of(const std::string& name);
    Pool::Lease lease(Node& node, Lane lane = Lane::shared);
    void learn(std::uint16_t slot, Node& node);
    /// CLUSTER SLOTS on @p node: false when it runs without cluster support.
    bool load_from(Node& node);
    /// INFO cluster on @p node: cluster_enabled:1?
    bool cluster_enabled(Node& node);

    std::vector<Endpoint> seeds_;
    ClusterSettings settings_;
    Counters& counters_;

    mutable std::shared_mutex map_mutex_;
    std::unordered_map<std::string, std::unique_ptr<Node>> nodes_;  // by host:port; never erased
    std::vector<Node*> slots_;                                      // kClusterSlots owners (nullptr: not served)
    std::unordered_map<const Node*, std::size_t> replicas_;         // per master, from the last map

    std::mutex refresh_mutex_;
    std::chrono::steady_clock::time_point last_refresh_{};

    std::atomic<std::uint64_t> moved_{0};
    std::atomic<std::uint64_t> asked_{0};
    std::atomic<std::uint64_t> busy_{0};
    std::atomic<std::uint64_t> refreshes_{0};
};

}  // namespace failpipe::detail::redis
