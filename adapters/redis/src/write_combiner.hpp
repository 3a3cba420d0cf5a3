// Group commit of settles, releases and single pushes.
//
// Concurrent callers queue their operations; one of them (the leader) sends everything queued as
// ONE call of the apply script on a connection of its own, while the next operations queue up
// behind it. With one worker thread this is a plain round trip per operation; with many, a round
// trip carries as many operations as arrived during the previous one, which is what lets 16
// workers share one Redis core. Each operation still succeeds or fails on its own (the script
// answers one status per operation). The leader borrows a connection of the router's write lane
// (never one a blocked reserve holds) to the node that holds the head's slot.
//
// settle_batch does not come through here (its batch fills script calls on its own), but it
// shares what a write is: WriteOp, apply_call, take_statuses and fail_all below.
//
// Thread safety: submit() may be called from any number of threads.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "connection.hpp"
#include "router.hpp"
#include "script_args.hpp"
#include "scripts.hpp"

namespace failpipe::detail::redis {

/// Durability "replicas": after writes, `WAIT replicas timeout_ms` on the same connection; fewer
/// confirmations than asked fail the round trip with DurabilityError (the writes are applied on the
/// master; sending them again is safe: each operation recognises a repeat).
struct ReplicaWait {
    long long replicas = 0;  ///< 0: durability "master", no WAIT
    long long timeout_ms = 0;
    std::chrono::milliseconds command_timeout{0};
    bool enabled() const noexcept { return replicas > 0; }
};

/// Sends WAIT on @p connection (its socket timeout raised by the wait) and returns how many
/// replicas confirmed the writes made on it so far (at most wait.timeout_ms later).
long long replicas_confirming(Connection& connection, const ReplicaWait& wait);

/// replicas_confirming(), throwing DurabilityError when fewer replicas than asked confirm. @p what
/// names the writes.
void wait_for_replicas(Connection& connection, const ReplicaWait& wait, std::string_view what);

/// One operation of the apply script (encoded by script_args.hpp) and, once submitted, its outcome.
struct WriteOp {
    /// How it failed. connection and timeout: the round trip that carried it (it may or may not have
    /// been applied); refused: the whole call was refused or answered nonsense (not applied);
    /// operation: the script refused this operation alone (not applied).
    /// durability: applied, but WAIT saw fewer replicas than asked.
    enum class Failure { none, connection, timeout, refused, operation, durability };

    explicit WriteOp(SettleArg&& op);
    explicit WriteOp(ReleaseArg&& op);
    explicit WriteOp(PushOpArg&& op);

    Args args;                   ///< The operation's part of ARGV, as an operation of its own.
    std::size_t resend_flag;     ///< Where in args its resend flag is ("1" on a repeat).
    bool pushes_only = false;    ///< Pushes of new messages: refused when Redis is out of memory.
    /// What apply_call needs to tell whether a plain acknowledgement may join a plain-acks operation:
    /// the delivery settled or released (channel and stream id, empty for pushes), every message id
    /// the operation touches (its own, its pushes'), and for a settle without pushes or follow-ups
    /// the acknowledgement itself. Views into what the SettleArg (etc.) viewed.
    std::string_view channel;
    std::string_view stream_id;
    std::vector<std::string_view> ids;
    std::optional<PlainAck> plain;
    long long status = -1;       ///< 1 done, 2 done by an earlier try, 0 stale.
    std::string error;           ///< The operation's own error ('E...' from the script), or the round trip's.
    Failure failure = Failure::none;
};

class WriteCombiner {
public:
    /// Round trips go to the node that holds @p slot (the slot of @p head's prefix).
    WriteCombiner(Router& router, std::uint16_t slot, const ScriptHead& head, ReplicaWait durability = {});

    /// Runs @p op (alone or with others) and returns when its outcome is set. Never throws.
    void submit(WriteOp& op) noexcept;

    /// Round trips made so far (for RedisAdapter::stats()).
    std::uint64_t round_trips() const noexcept { return round_trips_.load(std::memory_order_relaxed); }
    /// Operations those round trips carried.
    std::uint64_t operations() const noexcept { return operations_.load(std::memory_order_relaxed); }

private:
    /// The operation of one submit() call, and the hand-over between the leader and its thread.
    struct Waiter {
        WriteOp* op;
        std::mutex mutex;
        std::condition_variable changed;
        int state = 0;  // 0 queued, 1 finished, 2 lead the next round trip
    };

    void execute(const std::vector<Waiter*>& batch) noexcept;
    void execute_with(std::span<WriteOp* const> ops, const Script& script) noexcept;

    static constexpr std::size_t kMaxBatch = 256;

    std::atomic<std::uint64_t> round_trips_{0};
    std::atomic<std::uint64_t> operations_{0};

    std::mutex mutex_;
    std::deque<Waiter*> queue_;
    bool busy_ = false;       // a leader is running a round trip
    Router& router_;
    std::uint16_t slot_;
    const ScriptHead& head_;
    ReplicaWait durability_;
};

/// One call of the apply script carrying several operations, and where each one's resend flag is.
struct ApplyCall {
    /// A resend flag: its position in the call, and what it becomes on a repeat.
    struct Flag {
        std::size_t position;
        std::string_view resent;
    };
    ScriptCall call;
    std::vector<Flag> resend_flags;
    /// The operations in the order the reply answers them: the plain acknowledgements packed into
    /// one plain-acks operation are answered together, where the first of them stood.
    std::vector<WriteOp*> answers;
    /// Flags every operation as a repeat (for a try on a new connection after a lost one).
    void flag_resend();
};

// The parts of the one write path that a caller sending on a connection of its own (settle_batch,
// pipelined on a pooled connection) shares with the combiner.

/// The call of @p script (apply_script() or push_script()) that carries @p ops. The plain
/// acknowledgements among them that share no delivery and no message id with any other operation,
/// and whose stream ids are spelt as Redis writes them, go as one plain-acks operation per channel.
ApplyCall apply_call(const ScriptHead& head, const Script& script, std::span<WriteOp* const> ops);
/// Sets each operation's status, or its own error, from the apply script's @p reply. Throws when the
/// reply as a whole is an error or is not one status per operation (nothing of it applies then).
void take_statuses(const redisReply& reply, std::span<WriteOp* const> ops, const std::string& where);
/// Gives every operation of @p ops the failure @p error (the exception a call of them threw) means.
void fail_all(std::span<WriteOp* const> ops, std::exception_ptr error) noexcept;

/// Sends @p call and returns the reply; when the server does not know the script (restart, SCRIPT
/// FLUSH) loads it and sends the call again.
Reply run_script(Connection& connection, const ScriptCall& call);

}  // namespace failpipe::detail::redis
