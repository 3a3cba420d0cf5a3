// A bounded pool of connections for reserves (which may block) and inspection commands.
//
// Thread safety: acquire() and the leases' destructors may run on any thread. The pool's mutex is
// held only to move a connection in or out; connecting happens in the borrower's thread with no
// lock held, so a slow or dead server never blocks the others' borrowing and returning.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "connection.hpp"

namespace failpipe::detail::redis {

class Pool {
public:
    /// A borrowed connection, given back when the lease ends (even when an exception unwinds).
    class Lease {
    public:
        Lease(Pool& pool, std::unique_ptr<Connection> connection) noexcept
            : pool_(&pool), connection_(std::move(connection)) {}
        Lease(Lease&& other) noexcept : pool_(other.pool_), connection_(std::move(other.connection_)) {}
        Lease& operator=(Lease&&) = delete;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease() {
            if (connection_) pool_->give_back(std::move(connection_));
        }
        Connection& operator*() const noexcept { return *connection_; }
        Connection* operator->() const noexcept { return connection_.get(); }

    private:
        Pool* pool_;
        std::unique_ptr<Connection> connection_;
    };

    Pool(const Endpoint& endpoint, Seconds connect_timeout, Seconds command_timeout, std::size_t size,
         Counters& counters);

    /// A connection (perhaps not connected yet), waiting for one until @p deadline; nullopt when
    /// none became free in time.
    std::optional<Lease> acquire(std::chrono::steady_clock::time_point deadline);

    /// Closes the connections nobody borrows now (those lent out come back as usual): for a pool
    /// that will not be used again, so that its server does not keep an idle client.
    void drop_idle() noexcept;

private:
    void give_back(std::unique_ptr<Connection> connection) noexcept;

    const Endpoint& endpoint_;
    Counters& counters_;
    Seconds connect_timeout_;
    Seconds command_timeout_;
    std::size_t size_;
    std::mutex mutex_;
    std::condition_variable freed_;
    std::vector<std::unique_ptr<Connection>> idle_;  // most recently used last: warm sockets first
    std::size_t created_ = 0;
};

}  // namespace failpipe::detail::redis
