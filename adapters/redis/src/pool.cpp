#include "pool.hpp"

namespace failpipe::detail::redis {

Pool::Pool(const Endpoint& endpoint, Seconds connect_timeout, Seconds command_timeout, std::size_t size,
           Counters& counters)
    : endpoint_(endpoint),
      counters_(counters),
      connect_timeout_(connect_timeout),
      command_timeout_(command_timeout),
      size_(size) {
    idle_.reserve(size);
}

std::optional<Pool::Lease> Pool::acquire(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    for (;;) {
        if (!idle_.empty()) {
            auto connection = std::move(idle_.back());
            idle_.pop_back();
            return Lease(*this, std::move(connection));
        }
        if (created_ < size_) {
            // Only the object is made here; it connects on first use, outside the lock.
            auto connection = std::make_unique<Connection>(endpoint_, connect_timeout_, command_timeout_, counters_);
            ++created_;
            return Lease(*this, std::move(connection));
        }
        if (freed_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty()) return std::nullopt;
    }
}

void Pool::give_back(std::unique_ptr<Connection> connection) noexcept {
    {
        std::lock_guard lock(mutex_);
        idle_.push_back(std::move(connection));
    }
    freed_.notify_one();
}

void Pool::drop_idle() noexcept {
    std::vector<std::unique_ptr<Connection>> dropped;  // closed after the lock is released
    std::lock_guard lock(mutex_);
    created_ -= idle_.size();
    dropped.swap(idle_);
}

}  // namespace failpipe::detail::redis
