// `--redis` without a URL: a redis-server of the run's own, on a free 127.0.0.1 port, stopped by its
// PID when the run ends (and killed with the run, should the run itself be killed).
#pragma once

#include <string>
#include <sys/types.h>

namespace payments {

class PrivateRedis {
public:
    /// Starts redis-server (FAILPIPE_REDIS_SERVER, else redis-server on the PATH) and waits until it
    /// answers. Throws std::runtime_error when it cannot.
    PrivateRedis();
    PrivateRedis(const PrivateRedis&) = delete;
    PrivateRedis& operator=(const PrivateRedis&) = delete;
    ~PrivateRedis();

    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
    pid_t pid() const noexcept { return pid_; }
    /// Stops the server by its PID and removes its directory now (the destructor does it otherwise):
    /// for a run that ends with std::_Exit, where no destructor runs.
    void shutdown() noexcept;

private:
    bool start(const std::string& binary);
    void stop() noexcept;

    std::string dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};

}  // namespace payments
