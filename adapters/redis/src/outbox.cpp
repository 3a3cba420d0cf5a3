#include "outbox.hpp"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <exception>
#include <utility>

#include "connection.hpp"
#include "failpipe/logging.hpp"

namespace failpipe::detail::redis {
namespace {

long long to_integer(std::string_view text) {
    long long value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) return -1;
    return value;
}

std::string_view text_element(const redisReply& reply, const std::string& where) {
    if (reply.type != REDIS_REPLY_STRING && reply.type != REDIS_REPLY_STATUS) {
        throw_unexpected_reply(reply, where, "EVALSHA outbox-take", "a string");
    }
    return text_of(reply);
}

// Backoff of a relay whose passes fail (Redis unreachable, a script refused).
constexpr std::chrono::milliseconds kErrorBackoffMin{100};
constexpr std::chrono::milliseconds kErrorBackoffMax{5000};

std::atomic<OutboxFaultHook> fault_hook{nullptr};

}  // namespace

OutboxTake parse_outbox_take(const redisReply& reply, const std::string& where) {
    if (reply.type != REDIS_REPLY_ARRAY || reply.elements == 0 || reply.elements % 2 != 1 ||
        reply.element[0]->type != REDIS_REPLY_INTEGER) {
        throw_unexpected_reply(reply, where, "EVALSHA outbox-take", "now, then stream id and fields per entry");
    }
    OutboxTake take;
    take.now_ms = reply.element[0]->integer;
    for (std::size_t i = 1; i + 1 < reply.elements; i += 2) {
        const std::string stream_id(text_element(*reply.element[i], where));
        const redisReply& fields = *reply.element[i + 1];
        if (fields.type != REDIS_REPLY_ARRAY) throw_unexpected_reply(fields, where, "EVALSHA outbox-take", "an entry's fields");
        OutboxEntry entry;
        entry.stream_id = stream_id;
        bool target = false, id = false, bytes = false, delay = false, token = false;
        for (std::size_t f = 0; f + 1 < fields.elements; f += 2) {
            const std::string_view name = text_element(*fields.element[f], where);
            const std::string_view value = text_element(*fields.element[f + 1], where);
            auto take_field = [&](std::string& into, bool& seen) {
                if (seen) return;  // the first of a repeated name, as the entries of channels
                into.assign(value);
                seen = true;
            };
            if (name == "t") take_field(entry.target, target);
            else if (name == "i") take_field(entry.id, id);
            else if (name == "b") take_field(entry.bytes, bytes);
            else if (name == "d") take_field(entry.delay_ms, delay);
            else if (name == "k") take_field(entry.token, token);
        }
        const long long added = to_integer(std::string_view(stream_id).substr(0, stream_id.find('-')));
        // Written by apply.lua, every field is there; anything else was added by hand and is left
        // alone (never published half-read, never deleted).
        if (!(target && id && bytes && delay && token) || entry.target.empty() || entry.token.empty() ||
            to_integer(entry.delay_ms) < 0 || added < 0) {
            take.unreadable.push_back(stream_id);
            continue;
        }
        entry.added_ms = added;
        take.entries.push_back(std::move(entry));
    }
    return take;
}

std::string remaining_delay_ms(const OutboxEntry& entry, long long now_ms) {
    const long long staged = std::max(0LL, to_integer(entry.delay_ms));
    if (staged == 0) return "0";
    const long long due = entry.added_ms + staged;
    return due > now_ms ? std::to_string(due - now_ms) : "0";
}

void OutboxFigures::relayed(const std::string& group, std::uint64_t count) {
    if (count == 0) return;
    std::lock_guard lock(mutex_);
    Group& figures = groups_[group];
    figures.relayed += count;
    figures.last_error.clear();
}

void OutboxFigures::failed(const std::string& group, std::uint64_t count, std::string error) {
    std::lock_guard lock(mutex_);
    Group& figures = groups_[group];
    figures.failed += count;
    figures.last_error = std::move(error);
}

OutboxFigures::Group OutboxFigures::of(const std::string& group) const {
    std::lock_guard lock(mutex_);
    auto found = groups_.find(group);
    return found == groups_.end() ? Group{} : found->second;
}

void set_outbox_fault_hook(OutboxFaultHook hook) noexcept { fault_hook.store(hook); }

void outbox_fault_point(std::string_view point) noexcept {
    if (OutboxFaultHook hook = fault_hook.load()) hook(point);
}

RelayThread::RelayThread(std::function<std::size_t()> pass, std::chrono::milliseconds idle)
    : pass_(std::move(pass)), idle_(std::max(idle, std::chrono::milliseconds(1))),
      thread_([this](std::stop_token stop) { run(stop); }) {}

RelayThread::~RelayThread() {
    thread_.request_stop();  // wakes the wait below (condition_variable_any with a stop token)
}

void RelayThread::wake() noexcept {
    {
        std::lock_guard lock(mutex_);
        woken_ = true;
    }
    changed_.notify_one();
}

void RelayThread::run(std::stop_token stop) {
    std::chrono::milliseconds backoff{0};  // while passes fail
    while (!stop.stop_requested()) {
        std::size_t relayed = 0;
        bool failed = false;
        try {
            relayed = pass_();
            if (backoff.count() > 0) logger().info("RedisAdapter: the outbox relay works again");
            backoff = std::chrono::milliseconds{0};
        } catch (const std::exception& e) {
            failed = true;
            if (backoff.count() == 0) {
                logger().warn("RedisAdapter: the outbox relay failed (it tries again, backing off up to {} s; follow-ups "
                              "wait in the outbox, nothing is lost): {}",
                              kErrorBackoffMax.count() / 1000, e.what());
            } else {
                logger().debug("RedisAdapter: the outbox relay failed again: {}", e.what());
            }
            backoff = std::clamp(backoff * 2, kErrorBackoffMin, kErrorBackoffMax);
        } catch (...) {
            failed = true;
            if (backoff.count() == 0) logger().warn("RedisAdapter: the outbox relay failed with a non-standard exception");
            backoff = std::clamp(backoff * 2, kErrorBackoffMin, kErrorBackoffMax);
        }
        if (relayed > 0 && !failed) continue;  // there may be more: no wait
        std::unique_lock lock(mutex_);
        const auto wait = failed ? backoff : idle_;
        // A failing relay is not hurried by wake(): it waits out its backoff.
        changed_.wait_for(lock, stop, wait, [&] { return !failed && woken_; });
        woken_ = false;
    }
}

}  // namespace failpipe::detail::redis
