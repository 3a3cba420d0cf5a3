#include "cluster_client.hpp"

#include <algorithm>
#include <charconv>
#include <exception>
#include <thread>

#include "failpipe/logging.hpp"

namespace failpipe::detail::redis {
namespace {

using Clock = std::chrono::steady_clock;

// Redirections followed in a row before giving up: more means the nodes disagree for longer than
// a failover takes.
constexpr int kMaxRedirects = 16;
// A MOVED reloads the whole map at most this often (a resharding moves many slots at once).
constexpr std::chrono::milliseconds kRefreshEvery{100};
constexpr std::chrono::milliseconds kFirstPause{10};
constexpr std::chrono::milliseconds kLongestPause{200};

std::string node_name(const std::string& host, int port) {
    const std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return shown + ":" + std::to_string(port);
}

// "<slot> <host>:<port>" of a MOVED/ASK reply (the host may be an IPv6 literal, or empty when the
// node does not know its own address).
bool parse_redirect(std::string_view rest, std::uint16_t& slot, std::string& host, int& port) {
    const auto space = rest.find(' ');
    if (space == std::string_view::npos) return false;
    unsigned value = 0;
    auto [end, ec] = std::from_chars(rest.data(), rest.data() + space, value);
    if (ec != std::errc{} || end != rest.data() + space || value >= kClusterSlots) return false;
    std::string_view address = rest.substr(space + 1);
    const auto colon = address.rfind(':');
    if (colon == std::string_view::npos) return false;
    auto [pend, pec] = std::from_chars(address.data() + colon + 1, address.data() + address.size(), port);
    if (pec != std::errc{} || pend != address.data() + address.size() || port < 1 || port > 65535) return false;
    std::string_view h = address.substr(0, colon);
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    slot = static_cast<std::uint16_t>(value);
    host = std::string(h);
    return true;
}

std::string millis(Clock::duration duration) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(duration).count()) + " ms";
}

}  // namespace

// --- seed lists ---------------------------------------------------------------------------------

std::vector<Endpoint> parse_seed_list(std::string_view url) {
    constexpr std::string_view scheme = "redis://";
    if (url.substr(0, scheme.size()) != scheme || url.find(',') == std::string_view::npos) return {parse_url(url)};
    std::string_view rest = url.substr(scheme.size());
    const auto at = rest.rfind('@');
    const std::string_view userinfo = at == std::string_view::npos ? std::string_view{} : rest.substr(0, at + 1);
    if (at != std::string_view::npos) rest = rest.substr(at + 1);
    const auto slash = rest.find('/');
    const std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
    std::string_view hosts = rest.substr(0, slash);
    std::vector<Endpoint> seeds;
    for (;;) {
        const auto comma = hosts.find(',');
        const std::string_view host = hosts.substr(0, comma);
        if (host.empty()) {
            // parse_url redacts; an empty host in the list is refused the same way.
            (void)parse_url(std::string(scheme) + std::string(userinfo) + std::string(path));
        }
        seeds.push_back(parse_url(std::string(scheme) + std::string(userinfo) + std::string(host) + std::string(path)));
        if (comma == std::string_view::npos) break;
        hosts = hosts.substr(comma + 1);
    }
    return seeds;
}

std::string redacted_url(std::string_view url) {
    const std::vector<Endpoint> seeds = parse_seed_list(url);
    if (seeds.size() == 1) return seeds.front().redacted;
    std::string shown = seeds.front().auth ? "redis://***@" : "redis://";
    for (std::size_t i = 0; i < seeds.size(); ++i) {
        if (i > 0) shown += ',';
        shown += node_name(seeds[i].host, seeds[i].port);
    }
    if (seeds.front().db != 0) shown += "/" + std::to_string(seeds.front().db);
    return shown;
}

// --- replies of a cluster -----------------------------------------------------------------------

void throw_if_cluster_reply(const redisReply& reply, const std::string& endpoint, std::string_view command) {
    if (reply.type != REDIS_REPLY_ERROR) return;
    const std::string_view text = text_of(reply);
    const std::string where = "Redis at " + endpoint + ": ";
    const bool moved = is_error_reply(reply, "MOVED");
    if (moved || is_error_reply(reply, "ASK")) {
        std::uint16_t slot = 0;
        std::string host;
        int port = 0;
        const std::string_view rest = text.substr(moved ? 6 : 4);
        if (!parse_redirect(rest, slot, host, port)) return;  // not a shape we know: a plain ProtocolError
        throw ClusterRedirect(where + std::string(command) + " failed: " + std::string(text),
                              moved ? ClusterRedirect::Kind::moved : ClusterRedirect::Kind::ask, slot, std::move(host), port);
    }
    for (std::string_view code : {"TRYAGAIN", "CLUSTERDOWN"}) {
        if (is_error_reply(reply, code)) {
            throw ClusterBusy(where + "server not ready for " + std::string(command) + ": " + std::string(text), std::string(code));
        }
    }
    // Inside a script Redis checks each key as the script reaches it: a key of a slot that is being
    // migrated (or a cluster that went down meanwhile) stops the script with one of these.
    if (text.find("non local key in a cluster node") != std::string_view::npos) {
        throw ClusterBusy(where + std::string(command) + " stopped at a key that is being migrated: " + std::string(text),
                          "MIGRATING");
    }
    if (text.find("while the cluster is down") != std::string_view::npos) {
        throw ClusterBusy(where + std::string(command) + " stopped: " + std::string(text), "CLUSTERDOWN");
    }
}

// --- the client ---------------------------------------------------------------------------------

struct ClusterClient::Node {
    Node(Endpoint where, const ClusterSettings& settings, Counters& counters)
        : endpoint(std::move(where)),
          pool(endpoint, settings.connect_timeout, settings.command_timeout, settings.pool_size, counters),
          writes(endpoint, settings.connect_timeout, settings.command_timeout, settings.write_pool_size, counters) {}
    Endpoint endpoint;
    Pool pool;
    Pool writes;
};

ClusterClient::ClusterClient(std::vector<Endpoint> seeds, ClusterSettings settings, Counters& counters)
    : seeds_(std::move(seeds)), settings_(settings), counters_(counters), slots_(kClusterSlots, nullptr) {
    if (seeds_.empty()) throw InvalidArgumentError("failpipe::RedisAdapter: the Redis URL names no node");
    std::unique_lock lock(map_mutex_);
    for (const auto& seed : seeds_) {
        auto& slot = nodes_[node_name(seed.host, seed.port)];
        if (!slot) slot = std::make_unique<Node>(seed, settings_, counters_);
    }
}

ClusterClient::~ClusterClient() = default;

ClusterClient::Node& ClusterClient::node_at(const std::string& host, int port) {
    const std::string name = node_name(host, port);
    {
        std::shared_lock lock(map_mutex_);
        if (auto found = nodes_.find(name); found != nodes_.end()) return *found->second;
    }
    // A node the map has not named yet: same credentials and database as the seeds.
    Endpoint endpoint = seeds_.front();
    endpoint.host = host;
    endpoint.port = port;
    endpoint.display = name + "/" + std::to_string(endpoint.db);
    endpoint.redacted = std::string("redis://") + (endpoint.auth ? "***@" : "") + name;
    std::unique_lock lock(map_mutex_);
    auto& node = nodes_[name];
    if (!node) node = std::make_unique<Node>(std::move(endpoint), settings_, counters_);
    return *node;
}

ClusterClient::Node* ClusterClient::owner(std::uint16_t slot) const {
    std::shared_lock lock(map_mutex_);
    return slots_[slot];
}

void ClusterClient::learn(std::uint16_t slot, Node& node) {
    std::unique_lock lock(map_mutex_);
    slots_[slot] = &node;
}

Pool::Lease ClusterClient::lease(Node& node, Lane lane) {
    auto lease = (lane == Lane::writes ? node.writes : node.pool).acquire(Clock::now() + std::chrono::duration_cast<Clock::duration>(settings_.command_timeout));
    if (!lease) {
        throw TimeoutError("Redis at " + node.endpoint.display + ": no pooled connection became free within " +
                           millis(std::chrono::duration_cast<Clock::duration>(settings_.command_timeout)) + " (pool_size " +
                           std::to_string(settings_.pool_size) + "; each worker blocked in reserve holds one)");
    }
    return std::move(*lease);
}

Pool::Lease ClusterClient::lease_of(const std::string& name) {
    Node* node = nullptr;
    {
        std::shared_lock lock(map_mutex_);
        if (auto found = nodes_.find(name); found != nodes_.end()) node = found->second.get();
    }
    if (node == nullptr) throw InvalidArgumentError("Redis Cluster: no node " + name + " is known");
    return lease(*node);
}

bool ClusterClient::load_from(Node& node) {
    Reply reply;
    {
        Pool::Lease connection = lease(node);
        try {
            reply = connection->command(Args{"CLUSTER", "SLOTS"});
        } catch (...) {
            connection->disconnect();
            throw;
        }
    }
    const std::string& where = node.endpoint.display;
    if (reply->type == REDIS_REPLY_ERROR && text_of(*reply).find("cluster support disabled") != std::string_view::npos) {
        return false;
    }
    throw_if_error_reply(*reply, where, "CLUSTER SLOTS");
    if (reply->type != REDIS_REPLY_ARRAY) throw_unexpected_reply(*reply, where, "CLUSTER SLOTS", "an array");

    struct Range {
        long long first, last;
        std::string host;
        int port;
        std::size_t replicas;
    };
    std::vector<Range> ranges;
    ranges.reserve(reply->elements);
    for (std::size_t i = 0; i < reply->elements; ++i) {
        const redisReply& range = *reply->element[i];
        if (range.type != REDIS_REPLY_ARRAY || range.elements < 3 || range.element[0]->type != REDIS_REPLY_INTEGER ||
            range.element[1]->type != REDIS_REPLY_INTEGER || range.element[2]->type != REDIS_REPLY_ARRAY ||
            range.element[2]->elements < 2 || range.element[2]->element[0]->type != REDIS_REPLY_STRING ||
            range.element[2]->element[1]->type != REDIS_REPLY_INTEGER) {
            throw_unexpected_reply(range, where, "CLUSTER SLOTS", "[first slot, last slot, [host, port, ...], ...]");
        }
        const long long first = range.element[0]->integer;
        const long long last = range.element[1]->integer;
        const long long port = range.element[2]->element[1]->integer;
        if (first < 0 || last < first || last >= static_cast<long long>(kClusterSlots) || port < 1 || port > 65535) {
            throw_unexpected_reply(range, where, "CLUSTER SLOTS", "slots 0..16383 and a port 1..65535");
        }
        std::string host(text_of(*range.element[2]->element[0]));
        // An empty host (or "?" in Redis 7) means "the address you reached me at".
        if (host.empty() || host == "?") host = node.endpoint.host;
        ranges.push_back(Range{first, last, std::move(host), static_cast<int>(port), range.elements - 3});
    }

    std::vector<Node*> owners(ranges.size());
    for (std::size_t i = 0; i < ranges.size(); ++i) owners[i] = &node_at(ranges[i].host, ranges[i].port);
    std::unique_lock lock(map_mutex_);
    std::fill(slots_.begin(), slots_.end(), nullptr);
    replicas_.clear();
    for (std::size_t i = 0; i < ranges.size(); ++i) {
        std::fill(slots_.begin() + ranges[i].first, slots_.begin() + ranges[i].last + 1, owners[i]);
        replicas_[owners[i]] = ranges[i].replicas;
    }
    refreshes_.fetch_add(1, std::memory_order_relaxed);
    return true;
}

bool ClusterClient::cluster_enabled(Node& node) {
    Reply reply;
    {
        Pool::Lease connection = lease(node);
        try {
            reply = connection->command(Args{"INFO", "cluster"});
        } catch (...) {
            connection->disconnect();
            throw;
        }
    }
    throw_if_error_reply(*reply, node.endpoint.display, "INFO");
    if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS) {
        throw_unexpected_reply(*reply, node.endpoint.display, "INFO", "a string");
    }
    return text_of(*reply).find("cluster_enabled:1") != std::string_view::npos;
}

void ClusterClient::drop_idle() noexcept {
    std::shared_lock lock(map_mutex_);
    for (auto& [name, node] : nodes_) {
        node->pool.drop_idle();
        node->writes.drop_idle();
    }
}

bool ClusterClient::discover() {
    std::string failures;
    std::exception_ptr only;  // with one node in the URL, its own error, exactly as on one server
    for (const auto& seed : seeds_) {
        Node& node = node_at(seed.host, seed.port);
        try {
            // INFO first: every user of the adapter may run it (docs/redis.md, ACL), so a plain Redis
            // is told apart without CLUSTER SLOTS, which only a cluster's user needs.
            const bool cluster = cluster_enabled(node) && load_from(node);
            std::lock_guard lock(refresh_mutex_);
            last_refresh_ = Clock::now();
            return cluster;
        } catch (const ConnectionError& e) {
            // An unreachable seed is skipped; it matters only when no seed answers.
            logger().debug("RedisAdapter: seed node {} did not answer: {}", seed.display, e.what());
            failures += (failures.empty() ? "" : "; ") + std::string(e.what());
            if (seeds_.size() == 1) only = std::current_exception();
        }
    }
    if (only) std::rethrow_exception(only);
    throw ConnectionError("Redis: none of the " + std::to_string(seeds_.size()) + " node(s) in the URL answered (" +
                          failures + ")");
}

void ClusterClient::refresh(std::chrono::milliseconds min_interval) {
    std::lock_guard guard(refresh_mutex_);
    const auto now = Clock::now();
    if (min_interval.count() > 0 && now - last_refresh_ < min_interval) return;
    last_refresh_ = now;  // also after a failure: a dead cluster is not asked in a tight loop
    std::vector<Node*> candidates;
    {
        std::shared_lock lock(map_mutex_);
        for (Node* node : slots_) {
            if (node != nullptr && std::find(candidates.begin(), candidates.end(), node) == candidates.end()) {
                candidates.push_back(node);
            }
        }
        for (const auto& seed : seeds_) {
            Node* node = nodes_.at(node_name(seed.host, seed.port)).get();
            if (std::find(candidates.begin(), candidates.end(), node) == candidates.end()) candidates.push_back(node);
        }
        for (const auto& [name, node] : nodes_) {
            if (std::find(candidates.begin(), candidates.end(), node.get()) == candidates.end()) candidates.push_back(node.get());
        }
    }
    std::string failures;
    for (Node* node : candidates) {
        try {
            if (load_from(*node)) return;
            failures += (failures.empty() ? "" : "; ") + node->endpoint.display + " runs without cluster support";
        } catch (const ConnectionError& e) {
            failures += (failures.empty() ? "" : "; ") + std::string(e.what());
        }
    }
    throw ConnectionError("Redis Cluster: no node answered CLUSTER SLOTS (" + failures + ")");
}

ClusterClient::Node& ClusterClient::owner_or_refresh(std::uint16_t slot) {
    if (Node* node = owner(slot)) return *node;
    refresh(kRefreshEvery);
    if (Node* node = owner(slot)) return *node;
    throw ClusterBusy("Redis Cluster: hash slot " + std::to_string(slot) +
                          " is not served by any master (CLUSTERDOWN Hash slot not served; `redis-cli --cluster check` "
                          "shows the uncovered slots, `redis-cli --cluster fix` assigns them)",
                      "CLUSTERDOWN");
}

const Endpoint& ClusterClient::endpoint_of(std::uint16_t slot) { return owner_or_refresh(slot).endpoint; }

void ClusterClient::run(std::uint16_t slot, AskPolicy ask, Lane lane, const Body& body) {
    const auto started = Clock::now();
    const auto give_up = started + std::chrono::duration_cast<Clock::duration>(settings_.command_timeout);
    std::chrono::milliseconds pause = kFirstPause;
    Node* asking = nullptr;
    int redirects = 0;
    bool resent = false;
    // A state that passes (migration, failover, no quorum): wait a little longer each time, within
    // the command timeout, then give up with what was seen last.
    auto wait_or_fail = [&](const std::string& state, const std::string& cause) {
        busy_.fetch_add(1, std::memory_order_relaxed);
        if (Clock::now() + pause > give_up) {
            throw ConnectionError("Redis Cluster: hash slot " + std::to_string(slot) + " " + state + " for " +
                                  millis(Clock::now() - started) + " (retried until the command timeout): " + cause);
        }
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, kLongestPause);
    };
    auto refresh_quietly = [&] {
        try {
            refresh(kRefreshEvery);
        } catch (const ConnectionError& e) {
            logger().debug("RedisAdapter: reloading the cluster's slot map failed: {}", e.what());
        }
    };

    for (;;) {
        Node* node = asking;
        if (node == nullptr) {
            try {
                node = &owner_or_refresh(slot);
            } catch (const ConnectionError& e) {  // no master for the slot, or no node answers
                wait_or_fail("has no master", e.what());
                continue;
            }
        }
        std::string state, cause;  // set when this try ends in a state worth waiting out
        {
            Pool::Lease borrowed = lease(*node, lane);
            Connection& connection = *borrowed;
            const bool reused = connection.reused();
            try {
                connection.connect();
            } catch (const ConnectionError& e) {
                // Nothing was sent. A master that died stays in the map until its replica is
                // promoted and a node says so.
                asking = nullptr;
                refresh_quietly();
                state = "has no reachable master";
                cause = e.what();
            }
            if (state.empty()) {
                try {
                    if (asking != nullptr) {
                        Reply ok = connection.command(Args{"ASKING"});
                        throw_if_error_reply(*ok, connection.endpoint(), "ASKING");
                    }
                    body(connection);
                    return;
                } catch (const ClusterRedirect& redirect) {
                    connection.disconnect();
                    if (++redirects > kMaxRedirects) {
                        throw ProtocolError("Redis Cluster: hash slot " + std::to_string(slot) + ": more than " +
                                            std::to_string(kMaxRedirects) + " redirections in a row (last: " +
                                            redirect.what() + ")");
                    }
                    Node& target = node_at(redirect.host(), redirect.port());
                    if (redirect.kind() == ClusterRedirect::Kind::moved) {
                        moved_.fetch_add(1, std::memory_order_relaxed);
                        learn(redirect.slot(), target);
                        asking = nullptr;
                        refresh_quietly();
                        if (owner(redirect.slot()) == nullptr) learn(redirect.slot(), target);
                        continue;
                    }
                    asked_.fetch_add(1, std::memory_order_relaxed);
                    if (ask == AskPolicy::follow) {
                        asking = &target;
                        continue;
                    }
                    asking = nullptr;
                    state = "is being migrated";
                    cause = redirect.what();
                } catch (const ClusterBusy& busy) {
                    connection.disconnect();
                    asking = nullptr;
                    if (busy.code() == "CLUSTERDOWN") refresh_quietly();
                    state = "answers " + busy.code();
                    cause = busy.what();
                } catch (const TimeoutError&) {
                    connection.disconnect();
                    throw;  // the command may still run: never sent twice blindly
                } catch (const ConnectionError& e) {
                    // Connection::fail drops the connection on an I/O failure; an error reply
                    // (LOADING, READONLY, ...) leaves it up and goes to the caller.
                    const bool io_failure = !connection.connected();
                    connection.disconnect();
                    if (!io_failure) throw;
                    refresh_quietly();
                    if (resent || !reused) throw;
                    resent = true;
                    asking = nullptr;
                    logger().info("RedisAdapter: connection to {} lost ({}); trying once more on a new one",
                                  node->endpoint.display, e.what());
                    continue;
                } catch (...) {
                    connection.disconnect();
                    throw;
                }
            }
        }
        wait_or_fail(state, cause);  // the connection is back in its pool while we wait
    }
}

Reply ClusterClient::command(std::uint16_t slot, const Args& args, AskPolicy ask) {
    return with_slot(
        slot,
        [&](Connection& connection) {
            Reply reply = connection.command(args);
            throw_if_cluster_reply(*reply, connection.endpoint(), args.name());
            return reply;
        },
        ask);
}

std::vector<std::string> ClusterClient::masters() const {
    std::vector<std::string> names;
    std::vector<const Node*> seen;
    std::shared_lock lock(map_mutex_);
    for (const Node* node : slots_) {
        if (node == nullptr || std::find(seen.begin(), seen.end(), node) != seen.end()) continue;
        seen.push_back(node);
        names.push_back(node_name(node->endpoint.host, node->endpoint.port));
    }
    return names;
}

std::string ClusterClient::master_of(std::uint16_t slot) const {
    const Node* node = owner(slot);
    return node == nullptr ? std::string{} : node_name(node->endpoint.host, node->endpoint.port);
}

std::size_t ClusterClient::replicas_of(std::uint16_t slot) const {
    std::shared_lock lock(map_mutex_);
    const Node* node = slots_[slot];
    if (node == nullptr) return 0;
    auto found = replicas_.find(node);
    return found == replicas_.end() ? 0 : found->second;
}

ClusterClient::Stats ClusterClient::stats() const noexcept {
    Stats stats;
    stats.moved = moved_.load(std::memory_order_relaxed);
    stats.asked = asked_.load(std::memory_order_relaxed);
    stats.busy = busy_.load(std::memory_order_relaxed);
    stats.refreshes = refreshes_.load(std::memory_order_relaxed);
    return stats;
}

}  // namespace failpipe::detail::redis
