#include "private_redis.hpp"

#include <failpipe/error.hpp>
#include <failpipe/redis/redis_adapter.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <vector>

namespace payments {
namespace {

int free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("cannot open a socket to find a free port");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
    ::close(fd);
    if (!ok) throw std::runtime_error("cannot find a free port on 127.0.0.1");
    return ntohs(address.sin_port);
}

std::string server_binary() {
    if (const char* path = std::getenv("FAILPIPE_REDIS_SERVER"); path != nullptr && *path != '\0') {
        if (::access(path, X_OK) != 0) {
            throw std::runtime_error("FAILPIPE_REDIS_SERVER=" + std::string(path) + " is not an executable redis-server");
        }
        return path;
    }
    for (const char* candidate : {"/usr/bin/redis-server", "/usr/local/bin/redis-server"}) {
        if (::access(candidate, X_OK) == 0) return candidate;
    }
    throw std::runtime_error("--redis without a URL needs redis-server (apt-get install redis-server, or set "
                             "FAILPIPE_REDIS_SERVER), or give a URL: --redis redis://host:port");
}

}  // namespace

PrivateRedis::PrivateRedis() {
    const std::string binary = server_binary();
    std::string pattern = (std::filesystem::temp_directory_path() / "failpipe-payments-redis.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot make a temporary directory");
    dir_ = pattern;
    for (int attempt = 0; attempt < 5; ++attempt) {
        port_ = free_loopback_port();
        if (start(binary)) return;
    }
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw std::runtime_error("could not start redis-server on 127.0.0.1 (see " + binary + ")");
}

PrivateRedis::~PrivateRedis() { shutdown(); }

void PrivateRedis::shutdown() noexcept {
    stop();
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
    dir_.clear();
}

bool PrivateRedis::start(const std::string& binary) {
    std::vector<std::string> args = {binary,   "--bind", "127.0.0.1",   "--port",    std::to_string(port_),
                                     "--dir",  dir_,     "--save",      "",          "--appendonly",
                                     "no",     "--daemonize", "no",     "--logfile", dir_ + "/redis.log",
                                     "--protected-mode", "yes"};
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("cannot fork to start redis-server");
    if (pid_ == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // the run killed: the server goes with it
        // Its own process group (a Ctrl-C on the terminal is the run's to handle, not the server's),
        // and the signals the run blocks (ShutdownSignals) unblocked again.
        ::setpgid(0, 0);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        std::vector<char*> argv;
        for (auto& arg : args) argv.push_back(arg.data());
        argv.push_back(nullptr);
        ::execv(binary.c_str(), argv.data());
        ::_exit(127);
    }
    failpipe::RedisAdapter::Options options;
    options.url = url();
    options.key_prefix = "failpipe-payments-probe";
    options.connect_timeout = failpipe::Seconds{0.2};
    failpipe::RedisAdapter probe(options);
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < give_up) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            return false;  // it died: the port was taken after all
        }
        try {
            probe.ping();
            return true;
        } catch (const failpipe::ConnectionError&) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    stop();
    return false;
}

void PrivateRedis::stop() noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
        if (std::chrono::steady_clock::now() > give_up) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_ = -1;
}

}  // namespace payments
