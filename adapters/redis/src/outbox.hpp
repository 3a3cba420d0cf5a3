// The outbox of a shard group: follow-ups that a settle pushed to a channel of ANOTHER group. One
// script cannot write two groups' slots, so the settle writes them to its own group's outbox stream
// (`{prefix:group}:outbox`, apply.lua) in the same atomic step, and a relay publishes each one to
// its channel later: it takes entries (outbox_take.lua: entries another relay left unacknowledged
// for a visibility timeout first, then new ones), pushes each as a push operation carrying the
// entry's token (the target group stores `P:op:<token>` and refuses the same token again), and only
// then acknowledges and deletes them (outbox_ack.lua). A relay that dies anywhere in between leaves
// its entries to the next relay; the token makes the second push a no-op. See docs/cluster.md.
//
// This file holds what the relay needs that is not an adapter call: reading the take script's
// reply, the delay still due, the relay's figures, its background thread, and a fault-injection
// point for the crash tests.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

struct redisReply;  // hiredis

namespace failpipe::detail::redis {

/// One follow-up waiting in a group's outbox, as outbox_take.lua hands it out.
struct OutboxEntry {
    std::string stream_id;   ///< Its id in the outbox stream.
    std::string target;      ///< `t`: the channel it goes to.
    std::string id;          ///< `i`: the message id.
    std::string bytes;       ///< `b`: the message, encoded (payload and metadata).
    std::string delay_ms;    ///< `d`: the delay the handler asked for, in ms ("0": ready at once).
    std::string token;       ///< `k`: the push token the target group refuses to apply twice.
    long long added_ms = 0;  ///< When the settle wrote it (the stream id's time, server ms).
};

/// What one call of outbox_take.lua returned.
struct OutboxTake {
    long long now_ms = 0;                 ///< The group's server clock at the take.
    std::vector<OutboxEntry> entries;     ///< Entries to publish.
    std::vector<std::string> unreadable;  ///< Stream ids of entries missing a field (written by hand): left where they are.
};

/// Reads the reply of outbox_take.lua. Throws ProtocolError for a reply of another shape.
OutboxTake parse_outbox_take(const redisReply& reply, const std::string& where);

/// The delay (ms, as the push operation sends it) still due when the relay publishes @p entry at
/// server time @p now_ms: the staged delay minus the time since the settle, never below 0. So a
/// retry that the handler asked for in 60 s is due 60 s after the settle, however late the relay.
std::string remaining_delay_ms(const OutboxEntry& entry, long long now_ms);

/// What the relays of one adapter did, per source group. Thread-safe.
class OutboxFigures {
public:
    struct Group {
        std::uint64_t relayed = 0;  ///< Entries published and acknowledged.
        std::uint64_t failed = 0;   ///< Attempts to publish an entry that failed (the entry stays).
        std::string last_error;     ///< Why the last one failed ("" once an entry was relayed since).
    };

    void relayed(const std::string& group, std::uint64_t count);
    void failed(const std::string& group, std::uint64_t count, std::string error);
    Group of(const std::string& group) const;

private:
    mutable std::mutex mutex_;
    std::map<std::string, Group, std::less<>> groups_;
};

/// A test's fault-injection point: called with the name of the point the relay reached ("pushed":
/// entries published to their channels, not yet acknowledged in the outbox). Null (the default):
/// nothing. Only test programs set it (to kill themselves right there).
using OutboxFaultHook = void (*)(std::string_view point);
void set_outbox_fault_hook(OutboxFaultHook hook) noexcept;
void outbox_fault_point(std::string_view point) noexcept;

/// The relay running in the background of an adapter: calls @p pass again at once while it
/// publishes something, waits up to @p idle after a pass that found nothing (or until wake()), and
/// backs off from 100 ms to 5 s while passes fail (logged once per streak at warn, then at debug).
/// Stopped and joined by the destructor (a pass in flight finishes first: its calls are bounded by
/// the command timeout).
class RelayThread {
public:
    RelayThread(std::function<std::size_t()> pass, std::chrono::milliseconds idle);
    ~RelayThread();
    RelayThread(const RelayThread&) = delete;
    RelayThread& operator=(const RelayThread&) = delete;

    /// Something was just written to an outbox: look now rather than after the idle wait.
    void wake() noexcept;

private:
    void run(std::stop_token stop);

    std::function<std::size_t()> pass_;
    std::chrono::milliseconds idle_;
    std::mutex mutex_;
    std::condition_variable_any changed_;
    bool woken_ = false;
    std::jthread thread_;  // last: started once everything above exists, joined first
};

}  // namespace failpipe::detail::redis
