// The processes the chaos runner owns: a private redis-server (started, killed, shut down and started
// again on the same port and directory) and the worker processes. Every process is started from the
// runner's main thread with PR_SET_PDEATHSIG, so nothing outlives the runner, and is stopped by its
// PID only.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "failpipe/error.hpp"
#include "failpipe/redis/redis_adapter.hpp"

namespace failpipe::chaos {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

/// A failure of the test's own machinery (not of failpipe): reported and the run ends with exit 2.
struct HarnessError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Forks and execs @p args (argv[0] is the path) with stdout and stderr appended to @p log.
/// The child dies with the runner (PR_SET_PDEATHSIG). Call from the main thread only: the death
/// signal follows the thread that forked. With @p block_stop_signals the program starts with
/// SIGTERM and SIGINT blocked (the mask survives exec), so a SIGTERM sent before it is ready waits
/// for its sigwait instead of killing it.
inline pid_t spawn(const std::vector<std::string>& args, const std::filesystem::path& log,
                   bool block_stop_signals = false) {
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    std::vector<std::string> copy = args;
    std::vector<char*> argv;
    for (auto& arg : copy) argv.push_back(arg.data());
    argv.push_back(nullptr);
    const std::string log_path = log.string();
    const pid_t parent = ::getpid();
    // Blocked in this thread before the fork, so the child is born with them blocked: a SIGTERM sent
    // right after spawn() returns, before the child has run a line, must not kill it.
    sigset_t before;
    if (block_stop_signals) ::pthread_sigmask(SIG_BLOCK, &stop_signals, &before);
    const pid_t pid = ::fork();
    if (pid != 0 && block_stop_signals) ::pthread_sigmask(SIG_SETMASK, &before, nullptr);
    if (pid < 0) throw HarnessError("fork failed");
    if (pid == 0) {
        // Only async-signal-safe calls until exec: the runner has other threads.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(126);
        const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ::dup2(fd, STDOUT_FILENO);
            ::dup2(fd, STDERR_FILENO);
        }
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    return pid;
}

/// Waits for @p pid to end, at most @p bound; SIGKILLs it past that. Returns the wait status.
inline int reap(pid_t pid, std::chrono::milliseconds bound, bool* in_time = nullptr) {
    int status = 0;
    const auto give_up = Steady::now() + bound;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
        if (Steady::now() > give_up) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            if (in_time != nullptr) *in_time = false;
            return status;
        }
        std::this_thread::sleep_for(2ms);
    }
    if (in_time != nullptr) *in_time = true;
    return status;
}

inline std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
}

/// The last @p lines lines of a file (for reports).
inline std::string tail(const std::filesystem::path& file, std::size_t lines = 15) {
    std::ifstream in(file);
    std::vector<std::string> kept;
    for (std::string line; std::getline(in, line);) {
        kept.push_back(line);
        if (kept.size() > lines) kept.erase(kept.begin());
    }
    std::string out;
    for (const auto& line : kept) out += "    | " + line + "\n";
    return out;
}

/// A loopback port nobody listens on right now.
inline int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw HarnessError("socket failed");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        ::close(fd);
        throw HarnessError("cannot find a free port");
    }
    ::close(fd);
    return ntohs(address.sin_port);
}

/// Sends SHUTDOWN to 127.0.0.1:@p port on a connection of its own. A server that shuts down closes
/// the connection without a reply; an error reply is returned.
inline std::string send_shutdown(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return "socket failed";
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        ::close(fd);
        return "cannot connect";
    }
    const std::string command = "*1\r\n$8\r\nSHUTDOWN\r\n";
    std::string reply;
    if (::write(fd, command.data(), command.size()) == static_cast<ssize_t>(command.size())) {
        pollfd waiting{fd, POLLIN, 0};
        if (::poll(&waiting, 1, 10000) > 0) {
            char buffer[512];
            const ssize_t n = ::read(fd, buffer, sizeof buffer);
            if (n > 0) reply.assign(buffer, static_cast<std::size_t>(n));
        }
    }
    ::close(fd);
    return reply;
}

/// A redis-server of the run's own on 127.0.0.1, AOF with fsync on every write, in @p dir. It keeps
/// its port and directory across restarts, so a restart replays the AOF.
class RedisProcess {
public:
    RedisProcess(std::string binary, std::filesystem::path dir) : binary_(std::move(binary)), dir_(std::move(dir)) {
        for (int attempt = 0; attempt < 10; ++attempt) {
            port_ = free_port();
            if (start_once()) return;
        }
        throw HarnessError("could not start redis-server (" + binary_ + "); its log:\n" + tail(log()));
    }
    RedisProcess(const RedisProcess&) = delete;
    RedisProcess& operator=(const RedisProcess&) = delete;
    ~RedisProcess() { kill_now(); }

    int port() const noexcept { return port_; }
    pid_t pid() const noexcept { return pid_; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
    std::filesystem::path log() const { return dir_ / "redis.log"; }

    /// SIGKILL: whatever was not yet written to the AOF is gone (with appendfsync always, nothing acknowledged).
    void kill_now() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        reap(pid_, 10s);
        pid_ = -1;
    }

    /// SHUTDOWN: the server flushes the AOF and exits. Returns false (and kills it) when it refused or hung.
    bool shut_down() {
        if (pid_ <= 0) return true;
        const std::string reply = send_shutdown(port_);
        bool in_time = false;
        const int status = reap(pid_, 15s, &in_time);
        pid_ = -1;
        if (!in_time || !reply.empty()) {
            shutdown_problem_ = "SHUTDOWN: reply \"" + reply + "\", " + describe_status(status);
            return false;
        }
        return true;
    }

    const std::string& shutdown_problem() const noexcept { return shutdown_problem_; }

    /// Starts the server again on the same port and directory (it loads its AOF). The port may be
    /// taken meanwhile by someone else: tried for a while, then HarnessError.
    void start_again() {
        const auto give_up = Steady::now() + 10s;
        while (Steady::now() < give_up) {
            if (start_once()) return;
            std::this_thread::sleep_for(100ms);
        }
        throw HarnessError("could not start redis-server again on port " + std::to_string(port_) + "; its log:\n" +
                           tail(log()));
    }

    /// Whether the server ended without being asked (a crash, a refused AOF): its wait status.
    bool ended_on_its_own(int* status) {
        if (pid_ <= 0) return false;
        if (::waitpid(pid_, status, WNOHANG) != pid_) return false;
        pid_ = -1;
        return true;
    }

private:
    bool start_once() {
        pid_ = spawn({binary_, "--bind", "127.0.0.1", "--port", std::to_string(port_), "--dir", dir_.string(),
                      "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no",
                      "--protected-mode", "yes", "--maxmemory-policy", "noeviction", "--logfile", log().string()},
                     dir_ / "redis.stdout");
        RedisAdapter::Options options;
        options.url = url();
        options.connect_timeout = Seconds{0.2};
        options.command_timeout = Seconds{2.0};
        RedisAdapter probe(options);
        // Loading a large AOF takes a while (the server answers LOADING meanwhile).
        const auto give_up = Steady::now() + 120s;
        while (Steady::now() < give_up) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return false;  // the port was taken after all, or it refused to start
            }
            try {
                // The server answering must be ours: a foreign one may hold the port.
                const std::string server = probe.info("server");
                if (server.find("process_id:" + std::to_string(pid_) + "\r\n") == std::string::npos) {
                    kill_now();
                    return false;
                }
                probe.ping();
                return true;
            } catch (const AdapterError&) {
                std::this_thread::sleep_for(10ms);
            }
        }
        kill_now();
        return false;
    }

    std::string binary_;
    std::filesystem::path dir_;
    int port_ = 0;
    pid_t pid_ = -1;
    std::string shutdown_problem_;
};

}  // namespace failpipe::chaos
