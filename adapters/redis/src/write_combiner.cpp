#include "write_combiner.hpp"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <utility>

#include "failpipe/error.hpp"
#include "scripts.hpp"

namespace failpipe::detail::redis {

Reply run_script(Connection& connection, const ScriptCall& call) {
    Reply reply = connection.command(call.args);
    if (!is_error_reply(*reply, "NOSCRIPT")) return reply;
    // Not executed: loading and sending again is safe.
    Args load{"SCRIPT", "LOAD", call.script->source};
    Reply loaded = connection.command(load);
    throw_if_error_reply(*loaded, connection.endpoint(), "SCRIPT LOAD");
    return connection.command(call.args);
}

WriteCombiner::WriteCombiner(Router& router, std::uint16_t slot, const ScriptHead& head, ReplicaWait durability)
    : router_(router), slot_(slot), head_(head), durability_(durability) {}

void WriteCombiner::submit(WriteOp& op) noexcept {
    Waiter self{&op, {}, {}, 0};
    std::unique_lock lock(mutex_);
    if (busy_) {
        queue_.push_back(&self);
        lock.unlock();
        {
            std::unique_lock own(self.mutex);
            self.changed.wait(own, [&] { return self.state != 0; });
            if (self.state == 1) return;
        }
        lock.lock();  // state 2: this thread leads the next round trip
    } else {
        busy_ = true;
    }

    std::vector<Waiter*> batch;
    batch.reserve(std::min(queue_.size() + 1, kMaxBatch));
    batch.push_back(&self);
    while (!queue_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(queue_.front());
        queue_.pop_front();
    }
    lock.unlock();

    round_trips_.fetch_add(1, std::memory_order_relaxed);
    operations_.fetch_add(batch.size(), std::memory_order_relaxed);
    execute(batch);

    Waiter* next = nullptr;
    lock.lock();
    if (queue_.empty()) {
        busy_ = false;
    } else {
        next = queue_.front();
        queue_.pop_front();
    }
    lock.unlock();
    // The next round trip first, so it overlaps with waking this one's callers. Each notify happens
    // under the waiter's own mutex: its thread cannot return (and destroy it) before we let go.
    if (next != nullptr) {
        std::lock_guard own(next->mutex);
        next->state = 2;
        next->changed.notify_one();
    }
    for (Waiter* done : batch) {
        if (done == &self) continue;
        std::lock_guard own(done->mutex);
        done->state = 1;
        done->changed.notify_one();
    }
}

void WriteCombiner::execute(const std::vector<Waiter*>& batch) noexcept {
    // Settles and releases run even when the server is at maxmemory (allow-oom), so consumers can
    // drain it; pushes of new messages are refused then. So they go in separate script calls.
    std::vector<WriteOp*> drains, pushes;
    for (Waiter* waiter : batch) (waiter->op->pushes_only ? pushes : drains).push_back(waiter->op);
    if (!drains.empty()) execute_with(drains, apply_script());
    if (!pushes.empty()) execute_with(pushes, push_script());
}

WriteOp::WriteOp(SettleArg&& op) : channel(op.delivery.channel), stream_id(op.delivery.stream_id) {
    ids.reserve(1 + op.pushes.size() + op.outbox.size());
    ids.push_back(op.delivery.id);
    for (const PushArg& push : op.pushes) ids.push_back(push.id);
    for (const OutboxArg& entry : op.outbox) ids.push_back(entry.push.id);
    if (op.pushes.empty() && op.outbox.empty()) {
        plain = PlainAck{op.resend, op.delivery.stream_id, op.delivery.id, op.delivery.reserved_ms};
    }
    resend_flag = encode(args, std::move(op));
}

WriteOp::WriteOp(ReleaseArg&& op)
    : channel(op.delivery.channel), stream_id(op.delivery.stream_id), ids{op.delivery.id} {
    resend_flag = encode(args, std::move(op));
}

WriteOp::WriteOp(PushOpArg&& op) : pushes_only(true) {
    ids.reserve(op.pushes.size());
    for (const PushArg& push : op.pushes) ids.push_back(push.id);
    resend_flag = encode(args, std::move(op));
}

namespace {

// A plain acknowledgement of a plain-acks operation, with its stream id's value (their order).
struct Packed {
    StreamId sid;
    WriteOp* op;
};

// What apply_call sends, in order: an operation as it is encoded, or a plain-acks operation.
struct Piece {
    WriteOp* single = nullptr;
    std::string_view channel;
    std::vector<Packed> acks;
};

// The pieces of a call of @p ops: each plain acknowledgement that may be packed (see apply_call)
// joins the plain-acks operation of its channel, placed where its first acknowledgement stood.
std::vector<Piece> pieces_of(std::span<WriteOp* const> ops) {
    // How often each message id and each delivery occurs among all operations: an acknowledgement
    // that shares either with another operation keeps its own turn.
    std::unordered_map<std::string_view, std::size_t> id_uses;
    std::map<std::pair<std::string_view, std::string_view>, std::size_t> delivery_uses;
    for (const WriteOp* op : ops) {
        for (std::string_view id : op->ids) ++id_uses[id];
        if (!op->stream_id.empty()) ++delivery_uses[{op->channel, op->stream_id}];
    }
    std::vector<Piece> pieces;
    std::unordered_map<std::string_view, std::size_t> open;  // channel -> its plain-acks piece not yet full
    for (WriteOp* op : ops) {
        std::optional<StreamId> sid;
        if (op->plain && id_uses[op->plain->id] == 1 && delivery_uses[{op->channel, op->stream_id}] == 1) {
            sid = canonical_stream_id(op->stream_id);
        }
        if (!sid) {
            pieces.push_back(Piece{op, {}, {}});
            continue;
        }
        auto [at, fresh] = open.try_emplace(op->channel, pieces.size());
        if (fresh || pieces[at->second].acks.size() == kMaxPlainAcks) {
            at->second = pieces.size();
            pieces.push_back(Piece{nullptr, op->channel, {}});
        }
        pieces[at->second].acks.push_back(Packed{*sid, op});
    }
    return pieces;
}

}  // namespace

ApplyCall apply_call(const ScriptHead& head, const Script& script, std::span<WriteOp* const> ops) {
    std::vector<Piece> pieces = pieces_of(ops);
    std::size_t parts = 0;
    for (const Piece& piece : pieces) parts += piece.single ? piece.single->args.size() : plain_acks_parts(piece.acks.size());
    ApplyCall apply{head.call(script, parts), {}, {}};
    Args& command = apply.call.args;
    apply.resend_flags.reserve(pieces.size());
    apply.answers.reserve(ops.size());
    for (Piece& piece : pieces) {
        if (piece.single != nullptr) {
            const WriteOp& op = *piece.single;
            apply.resend_flags.push_back({command.size() + op.resend_flag, "1"});
            for (std::size_t i = 0; i < op.args.size(); ++i) command.add(op.args.at(i));
            apply.answers.push_back(piece.single);
            continue;
        }
        // Ascending: the script takes the first and the last as the span to ask XPENDING about.
        std::stable_sort(piece.acks.begin(), piece.acks.end(),
                         [](const Packed& a, const Packed& b) { return a.sid < b.sid; });
        PlainAcksArg arg{piece.channel, {}};
        arg.acks.reserve(piece.acks.size());
        for (const Packed& packed : piece.acks) {
            arg.acks.push_back(*packed.op->plain);
            apply.answers.push_back(packed.op);
        }
        const std::size_t flag = encode(command, arg);
        apply.resend_flags.push_back({flag, all_resent(arg.acks.size())});
    }
    return apply;
}

void ApplyCall::flag_resend() {
    for (const Flag& flag : resend_flags) call.args.set(flag.position, flag.resent);
}

void take_statuses(const redisReply& reply, std::span<WriteOp* const> ops, const std::string& where) {
    throw_if_error_reply(reply, where, "EVALSHA apply");
    if (reply.type != REDIS_REPLY_ARRAY || reply.elements != ops.size()) {
        throw_unexpected_reply(reply, where, "EVALSHA apply", "one status per operation");
    }
    for (std::size_t i = 0; i < ops.size(); ++i) {
        const redisReply& status = *reply.element[i];
        if (status.type == REDIS_REPLY_INTEGER) {
            ops[i]->status = status.integer;
        } else if (status.type == REDIS_REPLY_STRING || status.type == REDIS_REPLY_ERROR) {
            std::string_view text = text_of(status);
            if (!text.empty() && text.front() == 'E') text.remove_prefix(1);
            ops[i]->failure = WriteOp::Failure::operation;
            ops[i]->error = "Redis at " + where + ": " + describe_server_error(text);
        } else {
            ops[i]->failure = WriteOp::Failure::operation;
            ops[i]->error = "Redis at " + where + ": unexpected status in the apply reply";
        }
    }
}

void fail_all(std::span<WriteOp* const> ops, std::exception_ptr error) noexcept {
    WriteOp::Failure failure = WriteOp::Failure::refused;
    std::string what = "unknown error";
    try {
        std::rethrow_exception(std::move(error));
    } catch (const DurabilityError& e) {
        failure = WriteOp::Failure::durability;
        what = e.what();
    } catch (const TimeoutError& e) {
        failure = WriteOp::Failure::timeout;
        what = e.what();
    } catch (const ConnectionError& e) {
        failure = WriteOp::Failure::connection;
        what = e.what();
    } catch (const std::exception& e) {
        what = e.what();
    } catch (...) {
    }
    for (WriteOp* op : ops) {
        op->failure = failure;
        op->error = what;
    }
}

void WriteCombiner::execute_with(std::span<WriteOp* const> batch, const Script& script) noexcept {
    try {
        ApplyCall apply = apply_call(head_, script, batch);
        // The router tries once more on a new connection when one that had worked before breaks (a
        // restarted server drops idle connections), and again after a cluster redirection: every
        // try after the first is flagged as a repeat, so the script recognises what an earlier one
        // did. A timeout is never sent again (the script may still run).
        bool attempted = false;
        router_.with_slot(
            slot_,
            [&](Connection& connection) {
                if (attempted) apply.flag_resend();
                attempted = true;
                Reply reply = run_script(connection, apply.call);
                take_statuses(*reply, apply.answers, connection.endpoint());
                // One WAIT for the whole round trip: its cost is shared by every operation it carried.
                if (durability_.enabled()) wait_for_replicas(connection, durability_, "the write");
            },
            Lane::writes);
    } catch (...) {
        fail_all(batch, std::current_exception());
    }
}

long long replicas_confirming(Connection& connection, const ReplicaWait& wait) {
    Args command{"WAIT"};
    command.add_number(wait.replicas);
    command.add_number(wait.timeout_ms);
    connection.set_timeout(wait.command_timeout + std::chrono::milliseconds(wait.timeout_ms));
    Reply reply = connection.command(command);
    connection.restore_timeout();
    throw_if_error_reply(*reply, connection.endpoint(), "WAIT");
    if (reply->type != REDIS_REPLY_INTEGER) throw_unexpected_reply(*reply, connection.endpoint(), "WAIT", "an integer");
    return reply->integer;
}

void wait_for_replicas(Connection& connection, const ReplicaWait& wait, std::string_view what) {
    if (const long long confirmed = replicas_confirming(connection, wait); confirmed < wait.replicas) {
        throw DurabilityError("Redis at " + connection.endpoint() + ": " + std::string(what) +
                              " applied on the master, but WAIT confirmed it on " + std::to_string(confirmed) +
                              " of " + std::to_string(wait.replicas) + " replica(s) within " +
                              std::to_string(wait.timeout_ms) +
                              " ms (durability \"replicas\"): a failover now could lose it, so it is reported as "
                              "failed; a settle or release sent again is recognised as a repeat, a push sent again "
                              "stores a second copy");
    }
}

}  // namespace failpipe::detail::redis
