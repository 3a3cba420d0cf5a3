#include "script_args.hpp"

#include <charconv>
#include <string>

namespace failpipe::detail::redis {
namespace {

void add_flag(Args& call, bool value) { call.add(value ? "1" : "0"); }

// The usual counts (none, one) without formatting a number.
void add_count(Args& call, std::size_t count) {
    if (count == 0) {
        call.add("0");
    } else if (count == 1) {
        call.add("1");
    } else {
        call.add_number(static_cast<long long>(count));
    }
}

// {channel id bytes delay-ms} per push (read.pushes).
void add_pushes(Args& call, std::vector<PushArg>& pushes) {
    for (auto& push : pushes) {
        call.add(push.channel);
        call.add(push.id);
        std::move(push.bytes).add_to(call);
        std::move(push.delay_ms).add_to(call);
    }
}

// <op> resend channel stream-id id reserved-ms: the head of a settle and of a release.
std::size_t add_delivery_op(Args& call, std::string_view op, bool resend, const DeliveryArg& delivery) {
    call.add(op);
    const std::size_t flag = call.size();
    add_flag(call, resend);
    call.add(delivery.channel);
    call.add(delivery.stream_id);
    call.add(delivery.id);
    call.add(delivery.reserved_ms);
    return flag;
}

}  // namespace

ScriptCall ScriptHead::call(const Script& script, std::size_t more_parts) const {
    ScriptCall call{&script, {}};
    Args& args = call.args;
    args.reserve(6 + more_parts);
    args.add("EVALSHA");
    args.add(script.sha);
    args.add("1");
    args.add(channels_key_);
    args.add(prefix_);
    args.add(visibility_ms_);
    return call;
}

// S resend channel stream-id id reserved-ms npush {channel id bytes delay-ms}*
//   nout {channel id bytes delay-ms token}*
std::size_t encode(Args& call, SettleArg&& op) {
    const std::size_t flag = add_delivery_op(call, "S", op.resend, op.delivery);
    add_count(call, op.pushes.size());
    add_pushes(call, op.pushes);
    add_count(call, op.outbox.size());
    for (auto& entry : op.outbox) {
        call.add(entry.push.channel);
        call.add(entry.push.id);
        std::move(entry.push.bytes).add_to(call);
        std::move(entry.push.delay_ms).add_to(call);
        std::move(entry.token).add_to(call);
    }
    return flag;
}

namespace {
// One half of a stream id as Redis writes it: "0", or digits without a leading zero, at most 2^64 - 1.
std::optional<std::uint64_t> canonical_half(std::string_view text) {
    if (text.empty() || (text.size() > 1 && text.front() == '0')) return std::nullopt;
    std::uint64_t value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}
}  // namespace

std::optional<StreamId> canonical_stream_id(std::string_view text) {
    const auto dash = text.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    const auto ms = canonical_half(text.substr(0, dash));
    const auto seq = canonical_half(text.substr(dash + 1));
    if (!ms || !seq) return std::nullopt;
    return StreamId{*ms, *seq};
}

// A channel count resend-flags stream-ids reserved-ms id*: resend-flags one '0' or '1' per
// acknowledgement, stream-ids and reserved-ms each joined by single spaces (neither ever holds one);
// the ids, which may hold any byte, one argument each.
std::size_t encode(Args& call, const PlainAcksArg& op) {
    std::string flags, stream_ids, reserved;
    flags.reserve(op.acks.size());
    for (const PlainAck& ack : op.acks) {
        flags.push_back(ack.resend ? '1' : '0');
        if (!stream_ids.empty()) {
            stream_ids.push_back(' ');
            reserved.push_back(' ');
        }
        stream_ids.append(ack.stream_id);
        reserved.append(ack.reserved_ms);
    }
    call.add("A");
    call.add(op.channel);
    add_count(call, op.acks.size());
    const std::size_t flag = call.size();
    call.add_copy(std::move(flags));
    call.add_copy(std::move(stream_ids));
    call.add_copy(std::move(reserved));
    for (const PlainAck& ack : op.acks) call.add(ack.id);
    return flag;
}

std::string_view all_resent(std::size_t acks) {
    static const std::string kAll(kMaxPlainAcks, '1');
    return std::string_view(kAll).substr(0, acks);
}

// R resend channel stream-id id reserved-ms delay-ms
std::size_t encode(Args& call, ReleaseArg&& op) {
    const std::size_t flag = add_delivery_op(call, "R", op.resend, op.delivery);
    std::move(op.delay_ms).add_to(call);
    return flag;
}

// P resend nrun token {channel delay-ms n {id bytes}*n}*: the pushes in order, those next to each
// other with the same channel and delay in one run, whose channel and delay go once (a push batch
// is mostly one run: two arguments per message instead of four).
std::size_t encode(Args& call, PushOpArg&& op) {
    std::vector<std::size_t> starts;  // where each run begins in op.pushes
    for (std::size_t i = 0; i < op.pushes.size(); ++i) {
        const bool same = i > 0 && i - starts.back() < kMaxPushRun && op.pushes[i].channel == op.pushes[i - 1].channel &&
                          op.pushes[i].delay_ms.view() == op.pushes[i - 1].delay_ms.view();
        if (!same) starts.push_back(i);
    }
    call.add("P");
    const std::size_t flag = call.size();
    add_flag(call, op.resend);
    add_count(call, starts.size());
    call.add(op.token);
    for (std::size_t r = 0; r < starts.size(); ++r) {
        const std::size_t begin = starts[r], end = r + 1 < starts.size() ? starts[r + 1] : op.pushes.size();
        call.add(op.pushes[begin].channel);
        std::move(op.pushes[begin].delay_ms).add_to(call);
        add_count(call, end - begin);
        for (std::size_t i = begin; i < end; ++i) {
            call.add(op.pushes[i].id);
            std::move(op.pushes[i].bytes).add_to(call);
        }
    }
    return flag;
}

// max reclaim-throttle-ms channel...
ScriptCall reserve_call(const ScriptHead& head, std::size_t max, std::string_view reclaim_every_ms,
                  const std::vector<std::string>& channels) {
    ScriptCall call = head.call(reserve_script(), 2 + channels.size());
    call.args.add_number(static_cast<long long>(max));
    call.args.add(reclaim_every_ms);
    for (const auto& channel : channels) call.args.add(channel);
    return call;
}

// channel reclaim-throttle-ms
ScriptCall prepare_call(const ScriptHead& head, std::string_view channel, std::string_view reclaim_every_ms) {
    ScriptCall call = head.call(prepare_script(), 2);
    call.args.add(channel);
    call.args.add(reclaim_every_ms);
    return call;
}

// id
ScriptCall status_call(const ScriptHead& head, std::string_view id) {
    ScriptCall call = head.call(status_script(), 1);
    call.args.add(id);
    return call;
}

// channel
ScriptCall depth_call(const ScriptHead& head, std::string_view channel) {
    ScriptCall call = head.call(depth_script(), 1);
    call.args.add(channel);
    return call;
}

// channel offset limit
ScriptCall browse_call(const ScriptHead& head, std::string_view channel, std::size_t offset, std::size_t limit) {
    ScriptCall call = head.call(browse_script(), 3);
    call.args.add(channel);
    call.args.add_number(static_cast<long long>(offset));
    call.args.add_number(static_cast<long long>(limit));
    return call;
}

// channel limit kind ref score
ScriptCall browse_after_call(const ScriptHead& head, std::string_view channel, std::size_t limit, std::string_view kind,
                             std::string_view ref, std::string_view score) {
    ScriptCall call = head.call(browse_after_script(), 5);
    call.args.add(channel);
    call.args.add_number(static_cast<long long>(limit));
    call.args.add(kind);
    call.args.add(ref);
    call.args.add(score);
    return call;
}

// channel
ScriptCall evicted_call(const ScriptHead& head, std::string_view channel) {
    ScriptCall call = head.call(evicted_script(), 1);
    call.args.add(channel);
    return call;
}

// (nothing)
ScriptCall reclaim_call(const ScriptHead& head) { return head.call(reclaim_script()); }

// max
ScriptCall outbox_take_call(const ScriptHead& head, std::size_t max) {
    ScriptCall call = head.call(outbox_take_script(), 1);
    call.args.add_number(static_cast<long long>(max));
    return call;
}

// stream-id...
ScriptCall outbox_ack_call(const ScriptHead& head, std::span<const std::string> stream_ids) {
    ScriptCall call = head.call(outbox_ack_script(), stream_ids.size());
    for (const auto& id : stream_ids) call.args.add(id);
    return call;
}

// (nothing)
ScriptCall outbox_lag_call(const ScriptHead& head) { return head.call(outbox_lag_script()); }

namespace script_args_detail {
// channel mode stream-cursor hash-cursor id...
ScriptCall lookup_call(const ScriptHead& head, const Script& script, std::string_view channel, std::string_view mode,
                 const Lookup& lookup, std::size_t ids) {
    ScriptCall call = head.call(script, 4 + ids);
    call.args.add(channel);
    call.args.add(mode);
    call.args.add(lookup.stream_cursor);
    call.args.add(lookup.hash_cursor);
    return call;
}
}  // namespace script_args_detail

// from to delay-ms token via {kind ref value id how bytes}*
ScriptCall move_call(const ScriptHead& head, std::string_view from, std::string_view to, std::string_view delay_ms,
               std::string_view token, MoveVia via, std::span<const MoveArg> items) {
    ScriptCall call = head.call(move_script(), 5 + 6 * items.size());
    call.args.add(from);
    call.args.add(to);
    call.args.add(delay_ms);
    call.args.add(token);
    call.args.add(via == MoveVia::outbox ? "o" : "t");
    for (const auto& item : items) {
        call.args.add(item.kind);
        call.args.add(item.ref);
        call.args.add(item.value);
        call.args.add(item.id);
        call.args.add(item.replace ? "r" : "k");
        call.args.add(item.bytes);
    }
    return call;
}

namespace {
// mode channel: the head of every migrate-source call; @p more parts follow.
ScriptCall migrate_source_call(const ScriptHead& head, std::string_view mode, std::string_view channel, std::size_t more) {
    ScriptCall call = head.call(migrate_source_script(), 2 + more);
    call.args.add(mode);
    call.args.add(channel);
    return call;
}
}  // namespace

// I channel group limit
ScriptCall migrate_inventory_call(const ScriptHead& head, std::string_view channel, std::string_view group,
                                  std::size_t limit) {
    ScriptCall call = migrate_source_call(head, "I", channel, 2);
    call.args.add(group);
    call.args.add_number(static_cast<long long>(limit));
    return call;
}

// R channel group max cursor
ScriptCall migrate_read_call(const ScriptHead& head, std::string_view channel, std::string_view group, std::size_t max,
                             std::string_view cursor) {
    ScriptCall call = migrate_source_call(head, "R", channel, 3);
    call.args.add(group);
    call.args.add_number(static_cast<long long>(max));
    call.args.add(cursor);
    return call;
}

// D channel {kind ref expect}*: expect is the delayed value, or the counter, as read
ScriptCall migrate_delete_call(const ScriptHead& head, std::string_view channel, std::span<const MigrateItem> items) {
    ScriptCall call = migrate_source_call(head, "D", channel, 3 * items.size());
    for (const auto& item : items) {
        call.args.add(item.kind);
        call.args.add(item.ref);
        if (item.kind == "d" && !item.fields.empty()) {
            call.args.add(item.fields.front());
        } else if (item.kind == "e") {
            call.args.add(item.num);
        } else {
            call.args.add("");
        }
    }
    return call;
}

// F channel
ScriptCall migrate_finish_call(const ScriptHead& head, std::string_view channel) {
    return migrate_source_call(head, "F", channel, 0);
}

// channel {kind token ref num nfields field*}*
ScriptCall migrate_target_call(const ScriptHead& head, std::string_view channel, std::span<const MigrateItem> items) {
    std::size_t parts = 1;
    for (const auto& item : items) parts += 5 + item.fields.size();
    ScriptCall call = head.call(migrate_target_script(), parts);
    call.args.add(channel);
    for (const auto& item : items) {
        call.args.add(item.kind);
        call.args.add(item.token);
        call.args.add(item.ref);
        call.args.add(item.num);
        add_count(call.args, item.fields.size());
        for (const auto& field : item.fields) call.args.add(field);
    }
    return call;
}

}  // namespace failpipe::detail::redis
