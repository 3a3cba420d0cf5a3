#include "write_combiner.hpp"

#include "failpipe/error.hpp"
#include "scripts.hpp"

namespace failpipe::detail::redis {

Reply run_script(Connection& connection, std::string_view script_source, const Args& command) {
    Reply reply = connection.command(command);
    if (!is_error_reply(*reply, "NOSCRIPT")) return reply;
    // Not executed: loading and sending again is safe.
    Args load{"SCRIPT", "LOAD", script_source};
    Reply loaded = connection.command(load);
    throw_if_error_reply(*loaded, connection.endpoint(), "SCRIPT LOAD");
    return connection.command(command);
}

WriteCombiner::WriteCombiner(const Endpoint& endpoint, Seconds connect_timeout, Seconds command_timeout,
                             Counters& counters, std::string prefix, std::string visibility_ms)
    : connection_(endpoint, connect_timeout, command_timeout, counters),
      prefix_(std::move(prefix)),
      channels_key_(prefix_ + ":channels"),
      visibility_ms_(std::move(visibility_ms)) {}

void WriteCombiner::submit(WriteOp& op) noexcept {
    std::unique_lock lock(mutex_);
    if (busy_) {
        queue_.push_back(&op);
        lock.unlock();
        {
            std::unique_lock own(op.mutex);
            op.changed.wait(own, [&] { return op.state != 0; });
            if (op.state == 1) return;
        }
        lock.lock();  // state 2: this thread leads the next round trip
    } else {
        busy_ = true;
    }

    std::vector<WriteOp*> batch;
    batch.reserve(std::min(queue_.size() + 1, kMaxBatch));
    batch.push_back(&op);
    while (!queue_.empty() && batch.size() < kMaxBatch) {
        batch.push_back(queue_.front());
        queue_.pop_front();
    }
    lock.unlock();

    round_trips_.fetch_add(1, std::memory_order_relaxed);
    operations_.fetch_add(batch.size(), std::memory_order_relaxed);
    execute(batch);

    WriteOp* next = nullptr;
    lock.lock();
    if (queue_.empty()) {
        busy_ = false;
    } else {
        next = queue_.front();
        queue_.pop_front();
    }
    lock.unlock();
    // The next round trip first, so it overlaps with waking this one's callers. Each notify happens
    // under the operation's own mutex: its thread cannot return (and destroy it) before we let go.
    if (next != nullptr) {
        std::lock_guard own(next->mutex);
        next->state = 2;
        next->changed.notify_one();
    }
    for (WriteOp* done : batch) {
        if (done == &op) continue;
        std::lock_guard own(done->mutex);
        done->state = 1;
        done->changed.notify_one();
    }
}

void WriteCombiner::execute(std::vector<WriteOp*>& batch) noexcept {
    // Settles and releases run even when the server is at maxmemory (allow-oom), so consumers can
    // drain it; pushes of new messages are refused then. So they go in separate script calls.
    std::vector<WriteOp*> drains, pushes;
    for (WriteOp* op : batch) {
        (op->args.size() > 0 && op->args.at(0) == "P" ? pushes : drains).push_back(op);
    }
    if (!drains.empty()) execute_with(drains, apply_script());
    if (!pushes.empty()) execute_with(pushes, push_script());
}

void WriteCombiner::execute_with(std::vector<WriteOp*>& batch, const Script& script) noexcept {
    auto fail_all = [&](WriteOp::Failure failure, const std::string& what) {
        for (WriteOp* op : batch) {
            op->failure = failure;
            op->error = what;
        }
    };
    try {
        std::size_t parts = 6;
        for (const WriteOp* op : batch) parts += op->args.size();
        Args command;
        command.reserve(parts);
        command.add("EVALSHA");
        command.add(script.sha);
        command.add("1");  // one key of the prefix's slot, for cluster routing (see AdapterCore)
        command.add(channels_key_);
        command.add(prefix_);
        command.add(visibility_ms_);
        std::vector<std::size_t> resend_flags;
        resend_flags.reserve(batch.size());
        for (const WriteOp* op : batch) {
            resend_flags.push_back(command.size() + 1);
            for (std::size_t i = 0; i < op->args.size(); ++i) command.add(op->args.at(i));
        }

        for (int attempt = 0;; ++attempt) {
            const bool reused = connection_.reused();
            try {
                Reply reply = run_script(connection_, script.source, command);
                throw_if_error_reply(*reply, connection_.endpoint(), "EVALSHA apply");
                if (reply->type != REDIS_REPLY_ARRAY || reply->elements != batch.size()) {
                    throw_unexpected_reply(*reply, connection_.endpoint(), "EVALSHA apply", "one status per operation");
                }
                for (std::size_t i = 0; i < batch.size(); ++i) {
                    const redisReply& status = *reply->element[i];
                    if (status.type == REDIS_REPLY_INTEGER) {
                        batch[i]->status = status.integer;
                    } else if (status.type == REDIS_REPLY_STRING || status.type == REDIS_REPLY_ERROR) {
                        std::string_view text = text_of(status);
                        if (!text.empty() && text.front() == 'E') text.remove_prefix(1);
                        batch[i]->failure = WriteOp::Failure::protocol;
                        batch[i]->error = "Redis at " + connection_.endpoint() + ": " + describe_server_error(text);
                    } else {
                        batch[i]->failure = WriteOp::Failure::protocol;
                        batch[i]->error = "Redis at " + connection_.endpoint() + ": unexpected status in the apply reply";
                    }
                }
                return;
            } catch (const TimeoutError&) {
                connection_.disconnect();
                throw;  // the script may still run: never send it twice blindly
            } catch (const ConnectionError&) {
                // An I/O failure drops the connection (Connection::fail); an error reply (LOADING,
                // READONLY, OOM, ...) leaves it up. Either way it is not used again.
                const bool io_failure = !connection_.connected();
                connection_.disconnect();
                // A reused connection may just have been dropped by a restarted server. Send once
                // more on a new one, flagged as a repeat: the script recognises what the first try did.
                if (attempt > 0 || !reused || !io_failure) throw;
                for (std::size_t position : resend_flags) command.set(position, "1");
            } catch (...) {
                connection_.disconnect();
                throw;
            }
        }
    } catch (const TimeoutError& e) {
        fail_all(WriteOp::Failure::timeout, e.what());
    } catch (const ConnectionError& e) {
        fail_all(WriteOp::Failure::connection, e.what());
    } catch (const std::exception& e) {
        fail_all(WriteOp::Failure::protocol, e.what());
    }
}

}  // namespace failpipe::detail::redis
