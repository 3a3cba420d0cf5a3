// Helpers of the Redis test suite: the shared test server's URL, unique key prefixes, a private
// redis-server (for tests that stop or pause it), and a TCP proxy that cuts a connection right after
// a chosen command (to lose its reply).
#pragma once

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <random>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "failpipe/error.hpp"
#include "failpipe/redis/redis_adapter.hpp"

namespace failpipe::redis_test {

using namespace std::chrono_literals;

/// The URL of the server scripts/test.sh started. Redis tests fail (never pass silently) without it.
inline std::string test_redis_url() {
    const char* url = std::getenv("FAILPIPE_TEST_REDIS_URL");
    if (url == nullptr || *url == '\0') {
        FAIL("FAILPIPE_TEST_REDIS_URL is not set: run the Redis tests through scripts/test.sh (or source "
             "scripts/redis-test-server.sh first), which starts a redis-server on 127.0.0.1");
    }
    return url;
}

/// The redis-server binary (FAILPIPE_REDIS_SERVER, else redis-server on the PATH).
inline std::string redis_server_binary() {
    const char* path = std::getenv("FAILPIPE_REDIS_SERVER");
    if (path != nullptr && *path != '\0') return path;
    for (const char* candidate : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"}) {
        if (::access(candidate, X_OK) == 0) return candidate;
    }
    FAIL("FAILPIPE_REDIS_SERVER is not set and no redis-server was found");
    return {};
}

/// A key prefix no other test (or test process) uses, so ctest -j2 runs never collide.
inline std::string unique_prefix(const std::string& what = "t") {
    static std::atomic<unsigned> counter{0};
    static const unsigned salt = std::random_device{}();
    return "fptest:" + what + ":" + std::to_string(::getpid()) + ":" + std::to_string(salt) + ":" +
           std::to_string(counter.fetch_add(1));
}

/// Options of an adapter on @p url under @p prefix, everything else the default.
inline RedisAdapter::Options options_on(const std::string& url, const std::string& prefix = unique_prefix()) {
    RedisAdapter::Options options;
    options.url = url;
    options.key_prefix = prefix;
    return options;
}

/// An adapter on the shared test server under a fresh prefix.
inline std::shared_ptr<RedisAdapter> shared_server_adapter(Seconds visibility = Seconds{30.0},
                                                           const std::string& prefix = unique_prefix()) {
    RedisAdapter::Options options;
    options.url = test_redis_url();
    options.key_prefix = prefix;
    options.visibility_timeout = visibility;
    return std::make_shared<RedisAdapter>(options);
}

/// How many times @p command ran on @p adapter's server (calls= of INFO commandstats; 0 when never).
inline std::uint64_t command_calls(RedisAdapter& adapter, const std::string& command) {
    const std::string text = adapter.info("commandstats");
    std::smatch m;
    if (!std::regex_search(text, m, std::regex("cmdstat_" + command + ":calls=([0-9]+)"))) return 0;
    return std::stoull(m[1].str());
}

/// A loopback port nobody listens on right now.
inline int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    ::close(fd);
    return ntohs(address.sin_port);
}

/// Waits until @p condition holds, checking every few milliseconds, at most @p bound.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds bound = 10s) {
    const auto give_up = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < give_up) {
        if (condition()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return condition();
}

/// The port of a redis://host:port URL (the test server's).
inline int port_of(const std::string& url) {
    const auto colon = url.rfind(':');
    REQUIRE(colon != std::string::npos);
    return std::stoi(url.substr(colon + 1));
}

/// Sends one command to the server on 127.0.0.1:@p port over a connection of its own (outside any
/// adapter) and returns the first line of the reply ("+OK", ":1", "-ERR ..."), at most 5 s.
inline std::string raw_command(int port, const std::vector<std::string>& args) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        FAIL("raw_command: cannot connect");
    }
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& arg : args) out += "$" + std::to_string(arg.size()) + "\r\n" + arg + "\r\n";
    REQUIRE(::write(fd, out.data(), out.size()) == static_cast<ssize_t>(out.size()));
    std::string reply;
    const auto give_up = std::chrono::steady_clock::now() + 5s;
    while (reply.find("\r\n") == std::string::npos && std::chrono::steady_clock::now() < give_up) {
        pollfd waiting{fd, POLLIN, 0};
        if (::poll(&waiting, 1, 50) <= 0) continue;
        char buffer[4096];
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n <= 0) break;
        reply.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return reply.substr(0, reply.find("\r\n"));
}

/// A redis-server of the test's own, on 127.0.0.1 on a free port, with AOF (appendfsync always) in a
/// temporary directory. Stopped by its PID when the guard ends, whatever happened.
class RedisServer {
public:
    /// @p extra_args go after the usual ones (e.g. `--replicaof 127.0.0.1 <port>` for a replica).
    explicit RedisServer(std::vector<std::string> extra_args = {}) : dir_(make_temp_dir()), extra_args_(std::move(extra_args)) {
        for (int attempt = 0; attempt < 5; ++attempt) {
            port_ = free_port();
            if (start_process()) return;
        }
        FAIL("could not start a private redis-server");
    }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;
    ~RedisServer() {
        stop(SIGKILL);
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }

    int port() const noexcept { return port_; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
    bool running() const noexcept { return pid_ > 0; }

    /// Sends @p signal and waits for the process to end.
    void stop(int signal = SIGTERM) {
        if (pid_ <= 0) return;
        ::kill(pid_, signal);
        int status = 0;
        const auto give_up = std::chrono::steady_clock::now() + 10s;
        while (::waitpid(pid_, &status, WNOHANG) == 0) {
            if (std::chrono::steady_clock::now() > give_up) {
                ::kill(pid_, SIGKILL);
                ::waitpid(pid_, &status, 0);
                break;
            }
            std::this_thread::sleep_for(5ms);
        }
        pid_ = -1;
    }

    /// Freezes the process (SIGSTOP): connections stay open, nothing is answered.
    void pause() {
        REQUIRE(pid_ > 0);
        ::kill(pid_, SIGSTOP);
    }
    /// Lets a paused process go on (SIGCONT).
    void resume() {
        REQUIRE(pid_ > 0);
        ::kill(pid_, SIGCONT);
    }

    /// Starts the server again on the same port and directory (it reloads its AOF).
    void restart() {
        stop(SIGKILL);
        REQUIRE(start_process());
    }

private:
    static std::filesystem::path make_temp_dir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "failpipe-redis-test.XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        return pattern;
    }

    bool start_process() {
        const std::string binary = redis_server_binary();
        const std::string port = std::to_string(port_);
        const std::string dir = dir_.string();
        const std::string log = (dir_ / "redis.log").string();
        std::vector<std::string> args = {binary,        "--bind",       "127.0.0.1",  "--port",    port,
                                         "--dir",       dir,            "--save",     "",          "--appendonly",
                                         "yes",         "--appendfsync", "always",    "--daemonize", "no",
                                         "--logfile",   log,            "--protected-mode", "yes"};
        args.insert(args.end(), extra_args_.begin(), extra_args_.end());
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            // Should the test process be killed (a ctest timeout), the server goes with it.
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            std::vector<char*> argv;
            for (auto& arg : args) argv.push_back(arg.data());
            argv.push_back(nullptr);
            ::execv(binary.c_str(), argv.data());
            ::_exit(127);
        }
        RedisAdapter::Options options;
        options.url = url();
        options.connect_timeout = Seconds{0.2};
        options.command_timeout = Seconds{1.0};
        RedisAdapter probe(options);
        const auto give_up = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < give_up) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return false;  // it died (the port was taken after all): try another
            }
            try {
                probe.ping();
                return true;
            } catch (const ConnectionError&) {
                std::this_thread::sleep_for(10ms);  // not listening yet, or still loading the AOF
            }
        }
        stop(SIGKILL);
        return false;
    }

    std::filesystem::path dir_;
    std::vector<std::string> extra_args_;
    int port_ = 0;
    pid_t pid_ = -1;
};

/// A TCP proxy in front of a Redis server. Armed with a marker, it forwards the next client chunk
/// that contains it, gives the server time to run it, then cuts that connection before the reply
/// reaches the client: exactly the "reply lost" case a settle must survive.
class LosingProxy {
public:
    explicit LosingProxy(int target_port) : target_port_(target_port) {
        listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(listener_ >= 0);
        int yes = 1;
        ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        REQUIRE(::listen(listener_, 64) == 0);
        socklen_t length = sizeof address;
        REQUIRE(::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
        port_ = ntohs(address.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }
    LosingProxy(const LosingProxy&) = delete;
    LosingProxy& operator=(const LosingProxy&) = delete;
    ~LosingProxy() {
        stop_ = true;
        acceptor_.join();  // no new pipes after this
        std::vector<std::thread> pipes;
        {
            std::lock_guard lock(mutex_);
            pipes.swap(pipes_);
        }
        for (auto& pipe : pipes) pipe.join();
        ::close(listener_);
    }

    int port() const noexcept { return port_; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

    /// The next client chunk containing @p marker goes through; its reply does not.
    void lose_reply_to(std::string marker) {
        std::lock_guard lock(mutex_);
        marker_ = std::move(marker);
        lost_ = false;
    }
    bool lost() const noexcept { return lost_; }
    /// After the next client chunk containing @p marker, the first reply (a flat array: its header
    /// and one line per element) goes through; the connection is cut before the replies after it.
    void cut_after_first_reply_to(std::string marker) {
        std::lock_guard lock(mutex_);
        first_reply_marker_ = std::move(marker);
        lost_ = false;
    }

private:
    void accept_loop() {
        while (!stop_) {
            pollfd waiting{listener_, POLLIN, 0};
            if (::poll(&waiting, 1, 20) <= 0) continue;
            int client = ::accept(listener_, nullptr, nullptr);
            if (client < 0) continue;
            int server = ::socket(AF_INET, SOCK_STREAM, 0);
            sockaddr_in address{};
            address.sin_family = AF_INET;
            address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            address.sin_port = htons(static_cast<std::uint16_t>(target_port_));
            if (server < 0 || ::connect(server, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
                ::close(client);
                if (server >= 0) ::close(server);
                continue;
            }
            std::lock_guard lock(mutex_);
            pipes_.emplace_back([this, client, server] { pump(client, server); });
        }
    }

    /// How many bytes of @p data still belong to the first reply; counts its lines in @p lines
    /// (the header sets @p wanted to 1 + its element count).
    static std::size_t first_reply_length(std::string_view data, long& lines, long& wanted) {
        std::size_t used = 0;
        while (used < data.size() && (wanted < 0 || lines < wanted)) {
            const std::size_t end = data.find('\n', used);
            if (end == std::string_view::npos) return data.size();
            if (lines == 0 && data[used] == '*') wanted = 1 + std::stol(std::string(data.substr(used + 1, end - used - 2)));
            ++lines;
            used = end + 1;
        }
        return used;
    }

    void pump(int client, int server) {
        char buffer[65536];
        bool open = true;
        bool counting = false;  // cut_after_first_reply_to: the first reply is passing
        long reply_lines = 0, reply_lines_wanted = -1;
        while (open && !stop_) {
            pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
            if (::poll(fds, 2, 20) <= 0) continue;
            for (int side = 0; side < 2 && open; ++side) {
                if ((fds[side].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
                const int from = side == 0 ? client : server;
                const int to = side == 0 ? server : client;
                const ssize_t n = ::read(from, buffer, sizeof buffer);
                if (n <= 0) {
                    open = false;
                    break;
                }
                bool cut = false;
                if (side == 0) {
                    std::lock_guard lock(mutex_);
                    const std::string_view sent(buffer, static_cast<std::size_t>(n));
                    if (!marker_.empty() && sent.find(marker_) != std::string_view::npos) {
                        marker_.clear();
                        cut = true;
                    }
                    if (!first_reply_marker_.empty() && sent.find(first_reply_marker_) != std::string_view::npos) {
                        first_reply_marker_.clear();
                        counting = true;
                    }
                }
                std::size_t length = static_cast<std::size_t>(n);
                if (side == 1 && counting) {
                    length = first_reply_length(std::string_view(buffer, length), reply_lines, reply_lines_wanted);
                    if (reply_lines_wanted >= 0 && reply_lines == reply_lines_wanted) {
                        counting = false;
                        cut = true;
                    }
                }
                if (::write(to, buffer, length) != static_cast<ssize_t>(length)) {
                    open = false;
                    break;
                }
                if (cut) {
                    std::this_thread::sleep_for(200ms);  // the server runs it and answers into the void
                    lost_ = true;
                    open = false;
                }
            }
        }
        ::close(client);
        ::close(server);
    }

    int target_port_;
    int listener_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<bool> lost_{false};
    std::mutex mutex_;
    std::string marker_;
    std::string first_reply_marker_;
    std::thread acceptor_;
    std::vector<std::thread> pipes_;
};

}  // namespace failpipe::redis_test
