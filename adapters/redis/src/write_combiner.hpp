// Group commit of settles, releases and single pushes.
//
// Concurrent callers queue their operations; one of them (the leader) sends everything queued as
// ONE call of the apply script on a connection of its own, while the next operations queue up
// behind it. With one worker thread this is a plain round trip per operation; with many, a round
// trip carries as many operations as arrived during the previous one, which is what lets 16
// workers share one Redis core. Each operation still succeeds or fails on its own (the script
// answers one status per operation).
//
// Thread safety: submit() may be called from any number of threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "connection.hpp"
#include "scripts.hpp"

namespace failpipe::detail::redis {

/// One operation of the apply script and, once submitted, its outcome.
struct WriteOp {
    /// How the round trip that carried it failed (none: `status` holds the script's answer).
    enum class Failure { none, connection, timeout, protocol };

    Args args;                   ///< The operation's part of ARGV; args.at(1) is its resend flag.
    long long status = -1;       ///< 1 done, 2 done by an earlier try, 0 stale.
    std::string error;           ///< The operation's own error ('E...' from the script), or the round trip's.
    Failure failure = Failure::none;

    // Hand-over between the leader and this operation's thread.
    std::mutex mutex;
    std::condition_variable changed;
    int state = 0;  // 0 queued, 1 finished, 2 lead the next round trip
};

class WriteCombiner {
public:
    WriteCombiner(const Endpoint& endpoint, Seconds connect_timeout, Seconds command_timeout, Counters& counters,
                  std::string prefix, std::string visibility_ms);

    /// Runs @p op (alone or with others) and returns when its outcome is set. Never throws.
    void submit(WriteOp& op) noexcept;

    /// Round trips made so far (for RedisAdapter::stats()).
    std::uint64_t round_trips() const noexcept { return round_trips_.load(std::memory_order_relaxed); }
    /// Operations those round trips carried.
    std::uint64_t operations() const noexcept { return operations_.load(std::memory_order_relaxed); }

private:
    void execute(std::vector<WriteOp*>& batch) noexcept;
    void execute_with(std::vector<WriteOp*>& batch, const Script& script) noexcept;

    static constexpr std::size_t kMaxBatch = 256;

    std::atomic<std::uint64_t> round_trips_{0};
    std::atomic<std::uint64_t> operations_{0};

    std::mutex mutex_;
    std::deque<WriteOp*> queue_;
    bool busy_ = false;       // a leader is running a round trip
    Connection connection_;   // touched only by the current leader
    std::string prefix_;
    std::string channels_key_;
    std::string visibility_ms_;
};

/// Sends @p command (an EVALSHA of @p script) and returns the reply; when the server does not know
/// the script (restart, SCRIPT FLUSH) loads it and sends the command again.
Reply run_script(Connection& connection, std::string_view script_source, const Args& command);

}  // namespace failpipe::detail::redis
