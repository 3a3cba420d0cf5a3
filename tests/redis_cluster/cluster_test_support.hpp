// Helpers of the Redis Cluster tests: the cluster scripts/redis-test-cluster.sh started (seed URL,
// node ports and PIDs), redis-cli against one node, slot migrations, and a scratch one-node cluster.
#pragma once

#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "redis_test_support.hpp"

namespace failpipe::cluster_test {

using namespace std::chrono_literals;
using redis_test::eventually;

/// The seed URL scripts/redis-test-cluster.sh exported. Cluster tests fail (never pass silently)
/// without it.
inline std::string exported_cluster_url() {
    const char* url = std::getenv("FAILPIPE_TEST_REDIS_CLUSTER_URL");
    if (url == nullptr || *url == '\0') {
        FAIL("FAILPIPE_TEST_REDIS_CLUSTER_URL is not set: run the cluster tests under `source "
             "scripts/redis-test-cluster.sh`, which starts a Redis Cluster on 127.0.0.1");
    }
    return url;
}

std::string cli(int port, const std::vector<std::string>& args);
std::map<int, pid_t> cluster_nodes();

/// One live node's URL (`redis://127.0.0.1:<port>`): the exported seed, or, when a test killed it,
/// the first node that answers.
inline std::string cluster_url() {
    const std::string exported = exported_cluster_url();
    if (cli(std::stoi(exported.substr(exported.rfind(':') + 1)), {"PING"}) == "PONG") return exported;
    for (const auto& [port, pid] : cluster_nodes()) {
        if (cli(port, {"PING"}) == "PONG") return "redis://127.0.0.1:" + std::to_string(port);
    }
    return exported;
}

/// Port → PID of every node the script started (FAILPIPE_TEST_REDIS_CLUSTER_NODES="port:pid,...").
inline std::map<int, pid_t> cluster_nodes() {
    exported_cluster_url();
    const char* text = std::getenv("FAILPIPE_TEST_REDIS_CLUSTER_NODES");
    REQUIRE(text != nullptr);
    std::map<int, pid_t> nodes;
    std::stringstream list(text);
    std::string item;
    while (std::getline(list, item, ',')) {
        const auto colon = item.find(':');
        REQUIRE(colon != std::string::npos);
        nodes[std::stoi(item.substr(0, colon))] = static_cast<pid_t>(std::stoi(item.substr(colon + 1)));
    }
    REQUIRE(nodes.size() == 6);
    return nodes;
}

/// Every node of the test cluster as a seed list (`redis://127.0.0.1:p1,127.0.0.1:p2,...`): a node
/// a test killed is skipped by the adapter, so later tests still find the cluster.
inline std::string cluster_seed_list() {
    std::string url = "redis://";
    for (const auto& [port, pid] : cluster_nodes()) url += (url.size() > 8 ? "," : "") + std::string("127.0.0.1:") + std::to_string(port);
    return url;
}

/// Runs redis-cli against 127.0.0.1:@p port with @p args (each quoted for the shell) and returns its
/// output without the trailing newline. Bounded by `timeout 10`.
inline std::string cli(int port, const std::vector<std::string>& args) {
    std::string command = "timeout 10 redis-cli -h 127.0.0.1 -p " + std::to_string(port);
    for (const auto& arg : args) {
        std::string quoted = "'";
        for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
        command += " " + quoted + "'";
    }
    command += " 2>&1";
    std::string output;
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) output += buffer.data();
    ::pclose(pipe);
    while (!output.empty() && (output.back() == '\n' || output.back() == '\r')) output.pop_back();
    return output;
}

/// The PID of the node on @p port, as the node itself reports it (-1 when it does not answer).
/// Nodes are started by scripts/redis-test-cluster.sh or by restart_node(): killing one by this PID
/// kills a process of the test run, never anything else.
inline pid_t pid_of(int port) {
    const std::string info = cli(port, {"INFO", "server"});
    const auto at = info.find("process_id:");
    if (at == std::string::npos) return -1;
    return static_cast<pid_t>(std::stol(info.substr(at + 11)));
}

/// SIGKILLs the node on @p port.
inline void kill_node(int port) {
    const pid_t pid = pid_of(port);
    REQUIRE(pid > 0);
    REQUIRE(::kill(pid, SIGKILL) == 0);
    REQUIRE(eventually([&] { return ::kill(pid, 0) != 0 || cli(port, {"PING"}) != "PONG"; }, 5s));
}

/// Starts the node on @p port again (same directory and cluster config: a master that was failed
/// over comes back as a replica of its successor). Detached from the test process; its PID goes to
/// <FAILPIPE_TEST_REDIS_CLUSTER_DIR>/extra.pids, which the script's EXIT trap stops.
inline void restart_node(int port) {
    const char* base = std::getenv("FAILPIPE_TEST_REDIS_CLUSTER_DIR");
    REQUIRE(base != nullptr);
    const std::string dir = std::string(base) + "/" + std::to_string(port);
    const std::string binary = redis_test::redis_server_binary();
    std::vector<std::string> args = {binary, "--bind", "127.0.0.1", "--port", std::to_string(port), "--dir", dir,
                                     "--cluster-enabled", "yes", "--cluster-config-file", dir + "/nodes.conf",
                                     "--cluster-node-timeout", "1000", "--save", "", "--appendonly", "no",
                                     "--protected-mode", "yes", "--daemonize", "no", "--logfile", dir + "/redis.log"};
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::setsid();
        // Nothing of the test's: ctest waits for its output pipes to close, so the node must not
        // hold them (it outlives the test).
        const int null = ::open("/dev/null", O_RDWR);
        for (int fd = 0; fd < 3; ++fd) ::dup2(null, fd);
        for (int fd = 3; fd < 1024; ++fd) ::close(fd);
        std::vector<char*> argv;
        for (auto& arg : args) argv.push_back(arg.data());
        argv.push_back(nullptr);
        ::execv(binary.c_str(), argv.data());
        ::_exit(127);
    }
    if (FILE* pids = std::fopen((std::string(base) + "/extra.pids").c_str(), "a")) {
        std::fprintf(pids, "%d\n", static_cast<int>(pid));
        std::fclose(pids);
    }
    REQUIRE(eventually([&] { return pid_of(port) == pid; }, 10s));
}

/// The node id of 127.0.0.1:@p port.
inline std::string node_id(int port) { return cli(port, {"CLUSTER", "MYID"}); }

/// The port of a `host:port` name.
inline int port_of_name(const std::string& name) { return std::stoi(name.substr(name.rfind(':') + 1)); }

/// A key whose slot is served by the master on @p port (per CLUSTER KEYSLOT and the node's own
/// CLUSTER SLOTS view via `owner`), made from @p stem.
template <class Owner>
std::string key_on(const std::string& stem, int port, Owner owner) {
    for (int i = 0; i < 100000; ++i) {
        std::string key = stem + ":" + std::to_string(i);
        if (owner(key) == port) return key;
    }
    FAIL("no key found for the master on port " << port);
    return {};
}

/// Moves @p slot (with every key in it) from the master on @p from to the master on @p to, the way
/// `redis-cli --cluster reshard` does, and tells every master.
inline void migrate_slot(int slot, int from, int to, const std::vector<int>& masters) {
    const std::string s = std::to_string(slot);
    REQUIRE(cli(to, {"CLUSTER", "SETSLOT", s, "IMPORTING", node_id(from)}) == "OK");
    REQUIRE(cli(from, {"CLUSTER", "SETSLOT", s, "MIGRATING", node_id(to)}) == "OK");
    for (int round = 0; round < 100; ++round) {
        const std::string keys = cli(from, {"CLUSTER", "GETKEYSINSLOT", s, "100"});
        if (keys.empty()) break;
        std::vector<std::string> args{"MIGRATE", "127.0.0.1", std::to_string(to), "", "0", "5000", "KEYS"};
        std::stringstream lines(keys);
        for (std::string key; std::getline(lines, key);) args.push_back(key);
        REQUIRE(cli(from, args) == "OK");
    }
    const std::string owner = node_id(to);
    REQUIRE(cli(to, {"CLUSTER", "SETSLOT", s, "NODE", owner}) == "OK");
    REQUIRE(cli(from, {"CLUSTER", "SETSLOT", s, "NODE", owner}) == "OK");
    for (int master : masters) {
        if (master != from && master != to) cli(master, {"CLUSTER", "SETSLOT", s, "NODE", owner});
    }
}

/// True when the replication of the live node on @p port has settled: a replica's link to its
/// master is up, a master's replicas are all online (none still loading its data), and it is a
/// master only if fewer than @p masters_seen (so far) are: a node a failover test restarted first
/// comes back as a master of its old slots, then turns into its successor's replica and resyncs.
inline bool replication_settled(int port, int& masters_seen) {
    const std::string info = cli(port, {"INFO", "replication"});
    if (info.find("role:slave") != std::string::npos) return info.find("master_link_status:up") != std::string::npos;
    if (info.find("role:master") == std::string::npos || ++masters_seen > 3) return false;
    std::stringstream lines(info);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("slave", 0) == 0 && line.find(":ip=") != std::string::npos &&
            line.find("state=online") == std::string::npos) {
            return false;
        }
    }
    return true;
}

/// Waits until every live node of the test cluster reports cluster_state:ok and its replication
/// has settled (replication_settled), at most @p bound: a test that WAITs for replicas right after
/// a failover test restarted a node would otherwise find that node still resyncing.
inline bool cluster_ok(std::chrono::milliseconds bound = 30s) {
    return eventually(
        [] {
            int masters = 0;
            for (const auto& [port, pid] : cluster_nodes()) {
                if (cli(port, {"PING"}) != "PONG") continue;  // a node a test killed
                if (cli(port, {"CLUSTER", "INFO"}).find("cluster_state:ok") == std::string::npos) return false;
                if (!replication_settled(port, masters)) return false;
            }
            return true;
        },
        bound);
}

/// A Redis Cluster node of the test's own (cluster-require-full-coverage no, so a slot can be left
/// uncovered while the others work), on a free port; killed by its PID when the guard ends. Alone it
/// is a one-node cluster; several can be joined with CLUSTER MEET.
class ScratchClusterNode {
public:
    /// @p extra: more redis-server arguments (e.g. `--cluster-node-timeout 1000`).
    explicit ScratchClusterNode(std::vector<std::string> extra = {}) : extra_(std::move(extra)), dir_(make_dir()) {
        for (int attempt = 0; attempt < 5 && pid_ < 0; ++attempt) {
            port_ = redis_test::free_port();
            if (port_ > 55000) continue;  // the cluster bus listens on port + 10000
            start();
        }
        REQUIRE(pid_ > 0);
    }
    ScratchClusterNode(const ScratchClusterNode&) = delete;
    ScratchClusterNode& operator=(const ScratchClusterNode&) = delete;
    ~ScratchClusterNode() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
    int port() const noexcept { return port_; }
    pid_t pid() const noexcept { return pid_; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

private:
    static std::filesystem::path make_dir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "failpipe-cluster-scratch.XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        return pattern;
    }
    void start() {
        const std::string binary = redis_test::redis_server_binary();
        const std::string dir = dir_.string();
        std::vector<std::string> args = {binary, "--bind", "127.0.0.1", "--port", std::to_string(port_), "--dir", dir,
                                         "--cluster-enabled", "yes", "--cluster-config-file", dir + "/nodes.conf",
                                         "--cluster-require-full-coverage", "no", "--save", "", "--appendonly", "no",
                                         "--daemonize", "no", "--logfile", dir + "/redis.log"};
        args.insert(args.end(), extra_.begin(), extra_.end());
        const pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            std::vector<char*> argv;
            for (auto& arg : args) argv.push_back(arg.data());
            argv.push_back(nullptr);
            ::execv(binary.c_str(), argv.data());
            ::_exit(127);
        }
        const bool up = eventually([&] { return cli(port_, {"PING"}) == "PONG"; }, 5s);
        int status = 0;
        if (up && ::waitpid(pid, &status, WNOHANG) == 0) {
            pid_ = pid;
            return;
        }
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
    }

    std::vector<std::string> extra_;
    std::filesystem::path dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};

}  // namespace failpipe::cluster_test
