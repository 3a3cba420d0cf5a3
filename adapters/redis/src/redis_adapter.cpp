#include "failpipe/redis/redis_adapter.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdint>
#include <exception>
#include <iterator>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "browse_cursor.hpp"
#include "cluster_slots.hpp"
#include "connection.hpp"
#include "durability.hpp"
#include "entry.hpp"
#include "failpipe/config.hpp"
#include "failpipe/error.hpp"
#include "failpipe/logging.hpp"
#include "failpipe/prometheus.hpp"
#include "outbox.hpp"
#include "router.hpp"
#include "script_args.hpp"
#include "scripts.hpp"
#include "url.hpp"
#include "write_combiner.hpp"

namespace failpipe {
namespace detail::redis {
namespace {

using Clock = std::chrono::steady_clock;

// BLOCK timeouts are served by the server's cron (hz 10 by default: 100 ms steps), so shorter
// waits are slept here, without holding a connection, and then polled.
constexpr std::chrono::milliseconds kBlockFloor{100};
// Delays are whole milliseconds on the server; this caps absurd ones (about 100 years) so the
// due time stays an exact integer in a double.
constexpr double kMaxDelayMs = 3.2e12;
// One pipelined script call of push_batch carries at most this many messages or bytes.
constexpr std::size_t kChunkMessages = 512;
constexpr std::size_t kChunkBytes = 1 << 20;
// One script call of a move reads or moves at most this many messages (and kChunkBytes), so no
// call holds the server for long.
constexpr std::size_t kMoveChunk = 256;
// One script call of settle_batch carries at most this many settles.
constexpr std::size_t kSettleChunk = 512;

// Timeouts above this many seconds (about 31 years) are refused: they would overflow the
// millisecond and nanosecond integers they become.
constexpr double kMaxTimeoutSeconds = 1e9;

long long ceil_ms(Seconds seconds) {
    return static_cast<long long>(std::ceil(std::clamp(seconds.count(), 0.0, kMaxTimeoutSeconds) * 1000.0));
}

void check_positive(Seconds value, const char* name) {
    if (!std::isfinite(value.count()) || value.count() <= 0.0 || value.count() > kMaxTimeoutSeconds) {
        throw InvalidArgumentError(std::string("failpipe::RedisAdapter: ") + name +
                                   " must be a positive number of seconds, at most 1e9");
    }
}

void check_channel(const std::string& channel, const char* operation) {
    if (channel.empty()) throw InvalidArgumentError(std::string("RedisAdapter::") + operation + ": the channel name is empty");
}

// The delay as the server's whole milliseconds ("0" = ready now), rounded up so never early.
std::string delay_ms(Seconds delay, const char* operation) {
    const double seconds = delay.count();
    if (!std::isfinite(seconds) || seconds < 0.0) {
        throw InvalidArgumentError(std::string("RedisAdapter::") + operation + ": the delay must be a finite number of seconds ≥ 0");
    }
    if (seconds == 0.0) return "0";
    double ms = std::ceil(seconds * 1000.0);
    ms = std::clamp(ms, 1.0, kMaxDelayMs);
    return std::to_string(static_cast<long long>(ms));
}

long long parse_integer(std::string_view text) {
    long long value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) return -1;
    return value;
}

// What the adapter wrote into Delivery::receipt: "<stream id> <reserved at, server ms> <message id>".
struct Receipt {
    std::string_view stream_id;
    std::string_view reserved_ms;
    std::string_view message_id;
};

Receipt parse_receipt(const Delivery& delivery, const char* operation) {
    std::string_view text = delivery.receipt;
    auto first = text.find(' ');
    auto second = first == std::string_view::npos ? std::string_view::npos : text.find(' ', first + 1);
    if (delivery.channel.empty() || second == std::string_view::npos || first == 0 ||
        parse_integer(text.substr(first + 1, second - first - 1)) < 0) {
        throw InvalidArgumentError(std::string("RedisAdapter::") + operation +
                                   ": the delivery was not reserved from a RedisAdapter (bad receipt)");
    }
    return Receipt{text.substr(0, first), text.substr(first + 1, second - first - 1), text.substr(second + 1)};
}

DeliveryArg delivery_arg(const Delivery& delivery, const Receipt& receipt) {
    return DeliveryArg{delivery.channel, receipt.stream_id, receipt.message_id, receipt.reserved_ms};
}

const redisReply& element(const redisReply& array, std::size_t index) { return *array.element[index]; }

long long integer_of(const redisReply& reply, const std::string& endpoint, std::string_view command) {
    if (reply.type != REDIS_REPLY_INTEGER) throw_unexpected_reply(reply, endpoint, command, "an integer");
    return reply.integer;
}

std::string_view string_of(const redisReply& reply, const std::string& endpoint, std::string_view command) {
    if (reply.type != REDIS_REPLY_STRING && reply.type != REDIS_REPLY_STATUS) {
        throw_unexpected_reply(reply, endpoint, command, "a string");
    }
    return text_of(reply);
}

void expect_array(const redisReply& reply, const std::string& endpoint, std::string_view command) {
    if (reply.type != REDIS_REPLY_ARRAY) throw_unexpected_reply(reply, endpoint, command, "an array");
}

/// The field/value pairs of a stream entry's field array (views into @p fields). A nil (an entry
/// deleted while pending) gives none.
std::vector<EntryField> entry_fields(const redisReply& fields, const std::string& endpoint, std::string_view command) {
    std::vector<EntryField> out;
    if (fields.type == REDIS_REPLY_NIL) return out;
    expect_array(fields, endpoint, command);
    out.reserve(fields.elements / 2);
    for (std::size_t f = 0; f + 1 < fields.elements; f += 2) {
        out.emplace_back(string_of(element(fields, f), endpoint, command), string_of(element(fields, f + 1), endpoint, command));
    }
    return out;
}

}  // namespace

/// Everything behind RedisAdapter: options, endpoint, the pool, the write combiner.
class AdapterCore {
public:
    std::size_t max_message_bytes() const noexcept { return options_.max_message_bytes; }
    const ScriptHead& script_head() const noexcept { return head_; }

    /// @p tag: the hash tag of every key (`{prefix}`, or a shard group's `{prefix:group}`).
    /// @p router: the connections of another core of the same adapter (its shard groups share one
    /// pool per node), or null for a router of this core's own.
    AdapterCore(RedisAdapter::Options options, const std::string& tag, std::shared_ptr<Router> router = nullptr)
        : options_(validated(with_url_durability(std::move(options)))),
          owns_router_(router == nullptr),
          router_owner_(router ? std::move(router)
                               : std::make_shared<Router>(parse_seed_list(options_.url), cluster_mode(options_.cluster),
                                                          ClusterSettings{options_.connect_timeout, options_.command_timeout,
                                                                          options_.pool_size, 16},
                                                          counters_)),
          router_(*router_owner_),
          head_(tag.empty() ? "{" + options_.key_prefix + "}" : tag, std::to_string(std::max(1LL, ceil_ms(options_.visibility_timeout)))),
          slot_(key_slot(head_.prefix())),
          reclaim_every_ms_(std::to_string(std::clamp(ceil_ms(options_.visibility_timeout) / 4, 10LL, 1000LL))),
          command_timeout_(std::chrono::milliseconds(std::max(1LL, ceil_ms(options_.command_timeout)))),
          durability_(replica_wait(options_)),
          writer_(router_, slot_, head_, durability_) {
        options_.url = redacted_url(options_.url);
    }

    const RedisAdapter::Options& options() const noexcept { return options_; }
    const std::string& endpoint() const noexcept { return router_.display(); }
    /// The connections (pools per node) of this core, for the other cores of its adapter.
    const std::shared_ptr<Router>& router() const noexcept { return router_owner_; }

    RedisAdapter::Stats stats() const noexcept {
        RedisAdapter::Stats stats;
        stats.commands = counters_.commands.load(std::memory_order_relaxed);
        stats.connects = counters_.connects.load(std::memory_order_relaxed);
        stats.write_round_trips = writer_.round_trips();
        stats.write_operations = writer_.operations();
        if (!owns_router_) return stats;  // the router's owner counts its commands and redirections
        const ClusterClient::Stats cluster = router_.cluster_stats();
        stats.cluster_moved = cluster.moved;
        stats.cluster_asked = cluster.asked;
        stats.cluster_waits = cluster.busy;
        stats.cluster_map_loads = cluster.refreshes;
        return stats;
    }

    // --- writes (through the combiner) ----------------------------------------------------------

    std::string push_one(const std::string& channel, std::string id, std::string bytes, std::string delay) {
        // The same token on every try of this call: the script stores the push once.
        const std::string token = generate_message_id();
        std::vector<PushArg> pushes;
        pushes.push_back(PushArg{channel, id, std::move(bytes), std::move(delay)});
        WriteOp op(PushOpArg{false, token, std::move(pushes)});
        writer_.submit(op);
        // Stored but not confirmed: the caller gets the id, so it can say so rather than push again.
        if (op.failure == WriteOp::Failure::durability) throw DurabilityError("RedisAdapter::push: " + op.error, {id});
        if (auto error = outcome_of(op, "push", nullptr)) std::rethrow_exception(error);
        return id;
    }

    /// The settle of @p delivery, encoded. Ids are given to the pushes in place, so a settle sent
    /// again after a failure carries the same ones. Throws (InvalidArgumentError) before anything
    /// is sent: settle_batch makes that one item's outcome. @p crossing (shard groups): which pushes
    /// go to another group's channel, hence to this group's outbox, each with a push token of its own.
    SettleArg settle_arg(const Delivery& delivery, Settlement& settlement, const std::vector<bool>* crossing = nullptr) {
        const Receipt receipt = parse_receipt(delivery, "settle");
        std::vector<std::string> delays;
        delays.reserve(settlement.pushes.size());
        for (const auto& push : settlement.pushes) {
            check_channel(push.channel, "settle");
            delays.push_back(delay_ms(push.delay, "settle"));
        }
        for (auto& push : settlement.pushes) {
            if (push.message.id.empty()) push.message.id = generate_message_id();
        }
        SettleArg op{in_doubt(delivery), delivery_arg(delivery, receipt), {}, {}};
        op.pushes.reserve(settlement.pushes.size());
        for (std::size_t i = 0; i < settlement.pushes.size(); ++i) {
            const auto& push = settlement.pushes[i];
            PushArg arg{push.channel, push.message.id, encode_message(push.message), std::move(delays[i])};
            if (crossing != nullptr && i < crossing->size() && (*crossing)[i]) {
                op.outbox.push_back(OutboxArg{std::move(arg), generate_message_id()});
            } else {
                op.pushes.push_back(std::move(arg));
            }
        }
        return op;
    }

    static StaleDeliveryError stale(const char* operation, const Delivery& delivery) {
        std::string_view id = delivery.message.id;
        return StaleDeliveryError(std::string("RedisAdapter::") + operation + ": delivery of message " + std::string(id) +
                                  " on \"" + delivery.channel +
                                  "\" is no longer held (its visibility timeout ran out, or it was already settled or "
                                  "released); nothing was changed");
    }

    static std::string doubt_key_of(const Delivery& delivery) { return delivery.channel + '\n' + delivery.receipt; }

    void settle(const Delivery& delivery, Settlement& settlement, const std::vector<bool>* crossing = nullptr) {
        WriteOp op(settle_arg(delivery, settlement, crossing));
        writer_.submit(op);
        if (auto error = outcome_of(op, "settle", &delivery)) std::rethrow_exception(error);
    }

    /// Many settles: the operations settle() sends (same encoder, apply script, reply parsing and
    /// error mapping), in calls of up to kSettleChunk operations pipelined on a pooled connection.
    /// Not through the write combiner: a batch fills calls on its own, and several workers' batches
    /// in flight at once on their own connections keep the server busier than one combined call.
    /// @p crossing (shard groups): per item, which of its pushes go to the outbox (settle_arg).
    std::vector<std::exception_ptr> settle_batch(std::vector<RedisAdapter::SettleItem>& items,
                                                 const std::vector<std::vector<bool>>* crossing = nullptr) {
        std::vector<std::exception_ptr> outcomes(items.size());
        if (items.empty()) return outcomes;
        for (const auto& item : items) {
            if (item.delivery == nullptr || item.settlement == nullptr) {
                throw InvalidArgumentError("RedisAdapter::settle_batch: null delivery or settlement");
            }
        }
        std::vector<WriteOp> ops;
        std::vector<std::size_t> settled;  // which item each operation settles
        ops.reserve(items.size());
        settled.reserve(items.size());
        for (std::size_t i = 0; i < items.size(); ++i) {
            try {
                ops.emplace_back(settle_arg(*items[i].delivery, *items[i].settlement,
                                            crossing != nullptr ? &(*crossing)[i] : nullptr));
            } catch (const Error&) {
                // One item's problem (a receipt that is not ours, a bad delay) is its own result:
                // settle_arg checks before anything is sent, so the rest of the batch goes ahead.
                outcomes[i] = std::current_exception();
                continue;
            }
            settled.push_back(i);
        }
        if (ops.empty()) return outcomes;
        send_ops(ops);
        std::exception_ptr whole;  // the call itself failed: thrown, as settle() throws it
        for (std::size_t k = 0; k < ops.size(); ++k) {
            const std::size_t i = settled[k];
            std::exception_ptr error = outcome_of(ops[k], "settle_batch", items[i].delivery);
            if (ops[k].failure == WriteOp::Failure::none || ops[k].failure == WriteOp::Failure::operation) {
                outcomes[i] = std::move(error);
            } else if (!whole) {
                whole = std::move(error);
            }
        }
        if (whole) {
            // Any of them may have been applied: the next try of each is flagged as a repeat.
            for (const auto& item : items) set_doubt(*item.delivery);
            std::rethrow_exception(whole);
        }
        return outcomes;
    }

    /// Sends @p ops (settles of settle_batch, or the relay's pushes: @p lane writes) in apply calls
    /// pipelined on a pooled connection, and sets the outcome of each. Never throws. When the
    /// connection fails part way, the calls whose statuses came back keep them (each operation
    /// answered for itself) and only the others fail; a try on a new connection sends only those.
    void send_ops(std::vector<WriteOp>& ops, Lane lane = Lane::shared) noexcept {
        std::vector<WriteOp*> all;
        all.reserve(ops.size());
        for (WriteOp& op : ops) all.push_back(&op);
        std::vector<std::span<WriteOp* const>> chunks;
        for (std::size_t begin = 0; begin < all.size(); begin += kSettleChunk) {
            chunks.push_back(std::span<WriteOp* const>(all).subspan(begin, std::min(kSettleChunk, all.size() - begin)));
        }
        std::vector<bool> answered(chunks.size(), false);
        try {
            std::vector<ApplyCall> calls;
            calls.reserve(chunks.size());
            for (const auto& chunk : chunks) calls.push_back(apply_call(head_, apply_script(), chunk));
            bool attempted = false;
            router_.with_slot(slot_, [&](Connection& connection) {
                std::vector<std::size_t> pending;
                for (std::size_t k = 0; k < calls.size(); ++k) {
                    if (answered[k]) continue;
                    if (attempted) calls[k].flag_resend();
                    pending.push_back(k);
                }
                attempted = true;
                for (std::size_t k : pending) connection.append(calls[k].call.args);
                std::vector<std::size_t> unknown_script;
                for (std::size_t k : pending) {
                    Reply reply = connection.read("EVALSHA apply");
                    if (is_error_reply(*reply, "NOSCRIPT")) {
                        unknown_script.push_back(k);  // not run: sent again once the script is loaded
                        continue;
                    }
                    take_statuses(*reply, calls[k].answers, connection.endpoint());
                    answered[k] = true;
                }
                for (std::size_t k : unknown_script) {
                    take_statuses(*run_script(connection, calls[k].call), calls[k].answers, connection.endpoint());
                    answered[k] = true;
                }
                if (durability_.enabled()) wait_for_replicas(connection, durability_, "settle_batch");
            }, lane);
        } catch (...) {
            // A failed WAIT leaves every operation unconfirmed, whatever its status said.
            if (durability_.enabled()) {
                fail_all(all, std::current_exception());
                return;
            }
            std::vector<WriteOp*> unanswered;
            for (std::size_t k = 0; k < chunks.size(); ++k) {
                if (!answered[k]) unanswered.insert(unanswered.end(), chunks[k].begin(), chunks[k].end());
            }
            fail_all(unanswered, std::current_exception());
        }
    }

    void release(const Delivery& delivery, Seconds delay) {
        const Receipt receipt = parse_receipt(delivery, "release");
        WriteOp op(ReleaseArg{in_doubt(delivery), delivery_arg(delivery, receipt), delay_ms(delay, "release")});
        writer_.submit(op);
        if (auto error = outcome_of(op, "release", &delivery)) std::rethrow_exception(error);
    }

    // --- push_batch (pipelined on a pooled connection) ------------------------------------------

    std::vector<std::string> push_batch(std::vector<OutgoingMessage>& messages) {
        std::vector<std::string> ids;
        ids.reserve(messages.size());
        std::vector<std::string> bodies;
        bodies.reserve(messages.size());
        std::vector<std::string> delays;
        delays.reserve(messages.size());
        for (const auto& outgoing : messages) {
            check_channel(outgoing.channel, "push_batch");
            delays.push_back(delay_ms(outgoing.delay, "push_batch"));
        }
        for (auto& outgoing : messages) {
            if (outgoing.message.id.empty()) outgoing.message.id = generate_message_id();
            bodies.push_back(encode_message(outgoing.message));
            ids.push_back(outgoing.message.id);
        }
        // All checked before any is sent: a batch with one message too big pushes none.
        for (std::size_t i = 0; i < messages.size(); ++i) {
            check_message_size(messages[i].message, bodies[i].size(), options_.max_message_bytes, "RedisAdapter::push_batch");
        }

        // Chunks: each one script call, pipelined so the server works on one while the next is sent.
        struct Chunk {
            std::size_t begin, end;
            std::string token;  // the same on every try: the script stores the chunk once
            bool done = false;
        };
        std::vector<Chunk> chunks;
        for (std::size_t begin = 0; begin < messages.size();) {
            std::size_t end = begin, bytes = 0;
            while (end < messages.size() && end - begin < kChunkMessages && bytes < kChunkBytes) {
                bytes += bodies[end].size();
                ++end;
            }
            chunks.push_back(Chunk{begin, end, generate_message_id()});
            begin = end;
        }
        auto command_for = [&](const Chunk& chunk, bool resend) {
            std::vector<PushArg> pushes;
            pushes.reserve(chunk.end - chunk.begin);
            for (std::size_t i = chunk.begin; i < chunk.end; ++i) {
                pushes.push_back(PushArg{messages[i].channel, ids[i], std::string_view(bodies[i]), std::string_view(delays[i])});
            }
            ScriptCall call = head_.call(push_script(), push_op_parts(pushes.size()));
            encode(call.args, PushOpArg{resend, chunk.token, std::move(pushes)});
            return call;
        };

        bool attempted = false;
        with_connection([&](Connection& connection) {
            // A retry (after a dropped connection) sends the chunks not known done again, with their
            // tokens: chunks the first try stored are recognised and not stored twice.
            const bool repeat = attempted;
            attempted = true;
            std::vector<std::pair<std::size_t, ScriptCall>> sent;
            for (std::size_t k = 0; k < chunks.size(); ++k) {
                if (chunks[k].done) continue;
                sent.emplace_back(k, command_for(chunks[k], repeat));
                connection.append(sent.back().second.args);
                connection.flush();
            }
            std::vector<std::size_t> unknown_script;
            std::string first_error;
            auto take = [&](const redisReply& reply, std::size_t k) {
                throw_if_error_reply(reply, connection.endpoint(), "EVALSHA apply");
                expect_array(reply, connection.endpoint(), "EVALSHA apply");
                if (reply.elements != 1) throw_unexpected_reply(reply, connection.endpoint(), "EVALSHA apply", "one status");
                const redisReply& status = element(reply, 0);
                if (status.type != REDIS_REPLY_INTEGER && first_error.empty()) {
                    std::string_view text = text_of(status);
                    if (!text.empty() && text.front() == 'E') text.remove_prefix(1);
                    first_error = describe_server_error(text);
                }
                chunks[k].done = true;
            };
            for (auto& [k, command] : sent) {
                Reply reply = connection.read("EVALSHA apply");
                if (is_error_reply(*reply, "NOSCRIPT")) {
                    unknown_script.push_back(k);  // not run: send again once the script is loaded
                    continue;
                }
                take(*reply, k);
            }
            for (std::size_t k : unknown_script) {
                Reply reply = run_script(connection, command_for(chunks[k], repeat));
                take(*reply, k);
            }
            if (!first_error.empty()) {
                throw ProtocolError("Redis at " + connection.endpoint() + ": push_batch failed in part: " + first_error);
            }
            if (!durability_.enabled()) return;
            try {
                wait_for_replicas(connection, durability_, "push_batch");
            } catch (const DurabilityError& e) {
                throw DurabilityError(e.what(), ids);  // every chunk is stored: name them, do not push again
            }
        });
        return ids;
    }

    // --- reserve --------------------------------------------------------------------------------

    struct ScriptReserve {
        long long now_ms = 0;
        long long next_due_ms = -1;
        std::vector<Delivery> deliveries;
    };

    ScriptReserve reserve_once(const std::vector<std::string>& channels, std::size_t max) {
        if (channels.size() == 1) return reserve_single(channels.front(), max);
        return with_connection([&](Connection& connection) {
            Reply reply = run_script(connection, reserve_call(head_, max, reclaim_every_ms_, channels));
            const std::string& where = connection.endpoint();
            throw_if_error_reply(*reply, where, "EVALSHA reserve");
            expect_array(*reply, where, "EVALSHA reserve");
            if (reply->elements < 2 || (reply->elements - 2) % 3 != 0) {
                throw_unexpected_reply(*reply, where, "EVALSHA reserve", "now, next due, then entries of 3");
            }
            ScriptReserve result;
            result.now_ms = integer_of(element(*reply, 0), where, "EVALSHA reserve");
            result.next_due_ms = integer_of(element(*reply, 1), where, "EVALSHA reserve");
            result.deliveries.reserve((reply->elements - 2) / 3);
            for (std::size_t i = 2; i < reply->elements; i += 3) {
                const long long index = integer_of(element(*reply, i), where, "EVALSHA reserve");
                if (index < 1 || static_cast<std::size_t>(index) > channels.size()) {
                    throw_unexpected_reply(element(*reply, i), where, "EVALSHA reserve", "a channel index");
                }
                const auto fields = entry_fields(element(*reply, i + 2), where, "EVALSHA reserve");
                result.deliveries.push_back(delivery_from_entry(channels[static_cast<std::size_t>(index - 1)],
                                                                string_of(element(*reply, i + 1), where, "EVALSHA reserve"),
                                                                fields, result.now_ms, options_.max_message_bytes));
            }
            return result;
        });
    }

    /// Appends the entries of an XREADGROUP reply to @p out. @p reserved_ms < 0: not known, so each
    /// entry's own id time (when it was added, hence no later than now) stands in for it.
    static void parse_streams(const redisReply& reply, const std::vector<std::string>& keys,
                              const std::vector<std::string>& channels, long long reserved_ms,
                              const std::string& where, std::size_t max_message_bytes, std::vector<Delivery>& out) {
        if (reply.type == REDIS_REPLY_NIL) return;
        expect_array(reply, where, "XREADGROUP");
        for (std::size_t s = 0; s < reply.elements; ++s) {
            const redisReply& stream = element(reply, s);
            expect_array(stream, where, "XREADGROUP");
            if (stream.elements != 2) throw_unexpected_reply(stream, where, "XREADGROUP", "[stream, entries]");
            std::string_view key = string_of(element(stream, 0), where, "XREADGROUP");
            auto found = std::find(keys.begin(), keys.end(), key);
            if (found == keys.end()) throw_unexpected_reply(element(stream, 0), where, "XREADGROUP", "a requested stream");
            const std::string& channel = channels[static_cast<std::size_t>(found - keys.begin())];
            const redisReply& entries = element(stream, 1);
            expect_array(entries, where, "XREADGROUP");
            for (std::size_t e = 0; e < entries.elements; ++e) {
                const redisReply& entry = element(entries, e);
                expect_array(entry, where, "XREADGROUP");
                if (entry.elements != 2) throw_unexpected_reply(entry, where, "XREADGROUP", "[id, fields]");
                std::string_view stream_id = string_of(element(entry, 0), where, "XREADGROUP");
                const auto fields = entry_fields(element(entry, 1), where, "XREADGROUP");
                long long reserved = reserved_ms;
                if (reserved < 0) reserved = std::max(0LL, parse_integer(stream_id.substr(0, stream_id.find('-'))));
                out.push_back(delivery_from_entry(channel, stream_id, fields, reserved, max_message_bytes));
            }
        }
    }

    /// One channel: the prepare script and a plain XREADGROUP in one round trip. Cheaper for the
    /// server than reading inside a script (no Lua tables for every entry).
    ScriptReserve reserve_single(const std::string& channel, std::size_t max) {
        const std::vector<std::string> keys{head_.prefix() + ":s:" + channel};
        const std::vector<std::string> channels{channel};
        return with_connection([&](Connection& connection) {
            const ScriptCall prepare = prepare_call(head_, channel, reclaim_every_ms_);
            Args read{"XREADGROUP", "GROUP", kGroup, kGroup, "COUNT"};
            read.add_number(static_cast<long long>(max));
            read.add("STREAMS");
            read.add(keys.front());
            read.add(">");
            connection.append(prepare.args);
            connection.append(read);
            Reply prepared = connection.read("EVALSHA prepare");
            Reply got = connection.read("XREADGROUP");
            const std::string& where = connection.endpoint();
            ScriptReserve result;
            long long reserved_ms = -1;
            bool prepare_failed = false;
            if (is_error_reply(*prepared, "NOSCRIPT")) {
                // The read went ahead without it; load the script for the next time.
                Reply loaded = connection.command(Args{"SCRIPT", "LOAD", prepare.script->source});
                throw_if_error_reply(*loaded, where, "SCRIPT LOAD");
            } else if (prepared->type == REDIS_REPLY_ERROR) {
                prepare_failed = true;
            } else {
                expect_array(*prepared, where, "EVALSHA prepare");
                if (prepared->elements != 2) throw_unexpected_reply(*prepared, where, "EVALSHA prepare", "[now, next due]");
                result.now_ms = integer_of(element(*prepared, 0), where, "EVALSHA prepare");
                result.next_due_ms = integer_of(element(*prepared, 1), where, "EVALSHA prepare");
                reserved_ms = result.now_ms;
            }
            // A read racing a flush of the keys finds no group: nothing read, the next call makes it.
            if (!is_error_reply(*got, "NOGROUP")) {
                throw_if_error_reply(*got, where, "XREADGROUP");
                parse_streams(*got, keys, channels, reserved_ms, where, options_.max_message_bytes, result.deliveries);
            }
            if (prepare_failed) {
                // Nothing is handed out when preparing failed (its error may be the very reason the
                // deliveries could not be settled). What the read took is given back, not counted.
                for (const auto& delivery : result.deliveries) {
                    try {
                        release(delivery, Seconds{0.0});
                    } catch (const std::exception& e) {
                        logger().warn("RedisAdapter: could not give back a delivery of \"{}\" read while preparing "
                                      "failed (it comes back after the visibility timeout): {}",
                                      delivery.channel, e.what());
                    }
                }
                throw_if_error_reply(*prepared, where, "EVALSHA prepare");
            }
            return result;
        });
    }

    /// XREADGROUP BLOCK: wakes as soon as any of @p channels gets a message. Reads one per channel
    /// at most; the caller tops up with the script.
    std::vector<Delivery> blocking_read(const std::vector<std::string>& channels, std::chrono::milliseconds block,
                                        long long reserved_ms) {
        std::vector<std::string> keys;
        keys.reserve(channels.size());
        for (const auto& channel : channels) keys.push_back(head_.prefix() + ":s:" + channel);
        return with_connection([&](Connection& connection) {
            Args command;
            command.reserve(9 + 2 * channels.size());
            command.add("XREADGROUP");
            command.add("GROUP");
            command.add(kGroup);
            command.add(kGroup);
            command.add("COUNT");
            command.add("1");
            command.add("BLOCK");
            command.add_number(block.count());
            command.add("STREAMS");
            for (const auto& key : keys) command.add(key);
            for (std::size_t i = 0; i < keys.size(); ++i) command.add(">");
            connection.set_timeout(block + command_timeout_);
            Reply reply = connection.command(command);
            connection.restore_timeout();
            std::vector<Delivery> deliveries;
            // The stream vanished since the script made it (a flush): the next script makes it again.
            if (is_error_reply(*reply, "NOGROUP")) return deliveries;
            throw_if_error_reply(*reply, connection.endpoint(), "XREADGROUP");
            // reserved_ms is the server time before the block: earlier than the real reservation,
            // which only makes the repeat check of a settle more careful.
            parse_streams(*reply, keys, channels, reserved_ms, connection.endpoint(), options_.max_message_bytes, deliveries);
            return deliveries;
        });
    }

    std::vector<Delivery> reserve(const std::vector<std::string>& channels, std::size_t max,
                                  std::chrono::milliseconds wait) {
        if (channels.empty()) throw InvalidArgumentError("RedisAdapter::reserve: name at least one channel");
        for (const auto& channel : channels) check_channel(channel, "reserve");
        if (wait.count() < 0) throw InvalidArgumentError("RedisAdapter::reserve: the wait must not be negative");
        if (max == 0) throw InvalidArgumentError("RedisAdapter::reserve: max_messages must be at least 1");
        const auto deadline = Clock::now() + wait;
        for (;;) {
            ScriptReserve round = reserve_once(channels, max);
            if (!round.deliveries.empty()) return std::move(round.deliveries);
            const auto now = Clock::now();
            if (now >= deadline) return {};
            auto nap = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
            if (round.next_due_ms >= 0) nap = std::min(nap, std::chrono::milliseconds(round.next_due_ms + 1));
            if (nap < kBlockFloor) {
                std::this_thread::sleep_for(nap);
                continue;
            }
            std::vector<Delivery> got = blocking_read(channels, nap, round.now_ms);
            if (got.empty()) continue;
            if (got.size() < max) {
                try {
                    ScriptReserve more = reserve_once(channels, max - got.size());
                    for (auto& delivery : more.deliveries) got.push_back(std::move(delivery));
                } catch (const AdapterError& e) {
                    // What the blocking read took is reserved already: hand it out rather than
                    // leave it to the visibility timeout; the next call meets the error again.
                    logger().debug("RedisAdapter: topping up a reserve failed: {}", e.what());
                }
            } else if (got.size() > max) {
                // Several channels woke at once: hand back what does not fit (not counted).
                for (std::size_t i = max; i < got.size(); ++i) {
                    try {
                        release(got[i], Seconds{0.0});
                    } catch (const std::exception& e) {
                        logger().warn("RedisAdapter: could not hand back an extra delivery of \"{}\" (it comes "
                                      "back after the visibility timeout): {}",
                                      got[i].channel, e.what());
                    }
                }
                got.resize(max);
            }
            return got;
        }
    }

    // --- outbox (shard groups; see outbox.hpp) -----------------------------------------------------

    /// Up to @p max entries of this group's outbox for the relay.
    OutboxTake outbox_take(std::size_t max) {
        return with_write_connection([&](Connection& connection) {
            Reply reply = run_script(connection, outbox_take_call(head_, max));
            throw_if_error_reply(*reply, connection.endpoint(), "EVALSHA outbox-take");
            return parse_outbox_take(*reply, connection.endpoint());
        });
    }

    /// The relay published these entries: acknowledged and deleted.
    void outbox_ack(const std::vector<std::string>& stream_ids) {
        if (stream_ids.empty()) return;
        with_write_connection([&](Connection& connection) {
            Reply reply = run_script(connection, outbox_ack_call(head_, stream_ids));
            throw_if_error_reply(*reply, connection.endpoint(), "EVALSHA outbox-ack");
            integer_of(*reply, connection.endpoint(), "EVALSHA outbox-ack");
        });
    }

    struct OutboxState {
        std::size_t entries = 0;
        double oldest_age_s = 0.0;
    };

    /// Entries not yet relayed, and the age of the oldest by this group's server clock.
    OutboxState outbox_state() {
        return with_write_connection([&](Connection& connection) {
            Reply reply = run_array_script(connection, outbox_lag_call(head_), "EVALSHA outbox-lag", 3,
                                           "[now, entries, oldest id]");
            const std::string& where = connection.endpoint();
            const long long now = integer_of(element(*reply, 0), where, "EVALSHA outbox-lag");
            OutboxState state;
            state.entries = static_cast<std::size_t>(std::max(0LL, integer_of(element(*reply, 1), where, "EVALSHA outbox-lag")));
            const std::string_view oldest = string_of(element(*reply, 2), where, "EVALSHA outbox-lag");
            const long long added = parse_integer(oldest.substr(0, oldest.find('-')));
            if (state.entries > 0 && added >= 0 && now > added) state.oldest_age_s = static_cast<double>(now - added) / 1000.0;
            return state;
        });
    }

    // --- inspection -----------------------------------------------------------------------------

    std::size_t reclaim() {
        return with_connection([&](Connection& connection) {
            Reply reply = run_script(connection, reclaim_call(head_));
            throw_if_error_reply(*reply, connection.endpoint(), "EVALSHA reclaim");
            return static_cast<std::size_t>(integer_of(*reply, connection.endpoint(), "EVALSHA reclaim"));
        });
    }

    // A script call (@p command, of @p script) that answers an array of @p elements (status, depth).
    static Reply run_array_script(Connection& connection, const ScriptCall& call, const char* what, std::size_t elements,
                                  const char* shape) {
        Reply reply = run_script(connection, call);
        const std::string& where = connection.endpoint();
        throw_if_error_reply(*reply, where, what);
        expect_array(*reply, where, what);
        if (reply->elements != elements) throw_unexpected_reply(*reply, where, what, shape);
        return reply;
    }

    MessageStatus status(const std::string& id) {
        return with_connection([&](Connection& connection) {
            Reply reply = run_array_script(connection, status_call(head_, id), "EVALSHA status", 2, "[state, channel]");
            const std::string& where = connection.endpoint();
            std::string_view state = string_of(element(*reply, 0), where, "EVALSHA status");
            MessageStatus status;
            status.channel = std::string(string_of(element(*reply, 1), where, "EVALSHA status"));
            if (state == "ready") status.state = MessageState::ready;
            else if (state == "delayed") status.state = MessageState::delayed;
            else if (state == "reserved") status.state = MessageState::reserved;
            else status.channel.clear();
            return status;
        });
    }

    ChannelDepth depth(const std::string& channel) {
        check_channel(channel, "depth");
        return with_connection([&](Connection& connection) {
            Reply reply = run_array_script(connection, depth_call(head_, channel), "EVALSHA depth", 3,
                                           "[ready, delayed, reserved]");
            const std::string& where = connection.endpoint();
            auto count = [&](std::size_t i) {
                return static_cast<std::size_t>(std::max(0LL, integer_of(element(*reply, i), where, "EVALSHA depth")));
            };
            return ChannelDepth{count(0), count(1), count(2)};
        });
    }

    std::vector<Message> browse(const std::string& channel, std::size_t offset, std::size_t limit) {
        check_channel(channel, "browse");
        // Lua numbers are doubles: keep the window within what they count exactly.
        constexpr std::size_t kMaxWindow = std::size_t{1} << 40;
        offset = std::min(offset, kMaxWindow);
        limit = std::min(limit, kMaxWindow);
        std::vector<std::string> no_header;
        return run_browse(channel, browse_call(head_, channel, offset, limit), no_header, "EVALSHA browse");
    }

    /// Runs a browse-like script (browse, browse_after): header.size() strings into @p header, then
    /// (stream id, fields) pairs, the messages.
    std::vector<Message> run_browse(const std::string& channel, const ScriptCall& call, std::vector<std::string>& header,
                                    const char* what) {
        return with_connection([&](Connection& connection) {
            Reply reply = run_script(connection, call);
            const std::string& where = connection.endpoint();
            throw_if_error_reply(*reply, where, what);
            expect_array(*reply, where, what);
            if (reply->elements < header.size()) throw_unexpected_reply(*reply, where, what, "a page header");
            for (std::size_t i = 0; i < header.size(); ++i) header[i] = std::string(string_of(element(*reply, i), where, what));
            std::vector<Message> messages;
            messages.reserve(reply->elements / 2);
            for (std::size_t i = header.size(); i + 1 < reply->elements; i += 2) {
                std::string_view stream_id = string_of(element(*reply, i), where, what);
                const auto fields = entry_fields(element(*reply, i + 1), where, what);
                Delivery delivery = delivery_from_entry(channel, stream_id, fields, 0);
                if (!delivery.poisoned()) {
                    messages.push_back(std::move(delivery.message));
                    continue;
                }
                // Shown as a worker would keep it: JSON binary carries whatever the bytes are.
                Message poison;
                poison.id = std::move(delivery.message.id);
                poison.data = nlohmann::json::binary(std::vector<std::uint8_t>(delivery.raw.begin(), delivery.raw.end()));
                poison.metadata["failpipe-decode-error"] = std::move(delivery.decode_error);
                messages.push_back(std::move(poison));
            }
            return messages;
        });
    }

    std::uint64_t evicted(const std::string& channel) {
        check_channel(channel, "evicted");
        return with_connection([&](Connection& connection) {
            Reply reply = run_script(connection, evicted_call(head_, channel));
            throw_if_error_reply(*reply, connection.endpoint(), "EVALSHA evicted");
            return static_cast<std::uint64_t>(std::max(0LL, integer_of(*reply, connection.endpoint(), "EVALSHA evicted")));
        });
    }

    // remove(), or with @p count an eviction: each script step also adds what it removed to the
    // channel's eviction counter.
    std::size_t remove(const std::string& channel, const std::vector<std::string>& ids, bool count = false) {
        check_channel(channel, count ? "evict" : "remove");
        if (ids.empty()) return 0;
        return with_connection([&](Connection& connection) {
            const std::string& where = connection.endpoint();
            auto call = [&](const Lookup& lookup, const auto& wanted, std::size_t parts) {
                Reply reply = run_script(connection, remove_call(head_, channel, lookup, count, wanted));
                throw_if_error_reply(*reply, where, "EVALSHA remove");
                expect_array(*reply, where, "EVALSHA remove");
                if (reply->elements != parts) throw_unexpected_reply(*reply, where, "EVALSHA remove", "a remove step");
                return reply;
            };
            // Where the index says first: one step for every id that is where it was last pushed.
            Reply first = call(Lookup{}, ids, 2);
            std::size_t removed = static_cast<std::size_t>(std::max(0LL, integer_of(element(*first, 0), where, "EVALSHA remove")));
            const redisReply& left = element(*first, 1);
            expect_array(left, where, "EVALSHA remove");
            if (left.elements == 0) return removed;
            // The rest: scan the channel in bounded steps (each one atomic and short).
            std::vector<std::string_view> wanted;
            wanted.reserve(left.elements);
            for (std::size_t i = 0; i < left.elements; ++i) wanted.push_back(string_of(element(left, i), where, "EVALSHA remove"));
            std::string stream_cursor = "start", hash_cursor = "0";
            constexpr int kMaxSteps = 1'000'000;  // 5e9 entries: no channel is that long
            for (int step = 0; step < kMaxSteps && (stream_cursor != "done" || hash_cursor != "done"); ++step) {
                Reply reply = call(Lookup{Lookup::Mode::scan, stream_cursor, hash_cursor}, wanted, 3);
                removed += static_cast<std::size_t>(std::max(0LL, integer_of(element(*reply, 0), where, "EVALSHA remove")));
                stream_cursor = std::string(string_of(element(*reply, 1), where, "EVALSHA remove"));
                hash_cursor = std::string(string_of(element(*reply, 2), where, "EVALSHA remove"));
            }
            return removed;
        });
    }

    // --- move -------------------------------------------------------------------------------------

    /// A waiting message of the source channel, as the first half of a move read it.
    struct MoveItem {
        std::string id;
        std::string kind;   // "s" stream entry, "d" delayed member
        std::string ref;    // stream id or member
        std::string value;  // the delayed value read (compared by the second half); empty for "s"
        std::vector<std::string> fields;  // name, value, name, value, ...
    };

    /// What became of one requested id so far.
    struct MoveState {
        bool moved = false;
        bool held = false;
        bool changed = false;
        std::optional<MoveSkip> skip;  // a reason of its own (undecodable, rewrite-failed)
    };

    struct MoveRun {
        const std::string& from;
        const std::string& to;
        const std::string& delay;
        const MessageRewrite& rewrite;
        MoveVia via;
        std::unordered_map<std::string, MoveState> states;
        MoveResult result;
        std::vector<std::string> changed;  // ids to read again
    };

    static std::vector<MoveItem> move_items(const redisReply& items, const std::string& where) {
        expect_array(items, where, "EVALSHA move-read");
        if (items.elements % 5 != 0) throw_unexpected_reply(items, where, "EVALSHA move-read", "items of five elements");
        std::vector<MoveItem> out;
        out.reserve(items.elements / 5);
        for (std::size_t i = 0; i < items.elements; i += 5) {
            MoveItem item;
            item.id = std::string(string_of(element(items, i), where, "EVALSHA move-read"));
            item.kind = std::string(string_of(element(items, i + 1), where, "EVALSHA move-read"));
            item.ref = std::string(string_of(element(items, i + 2), where, "EVALSHA move-read"));
            item.value = std::string(string_of(element(items, i + 3), where, "EVALSHA move-read"));
            const auto fields = entry_fields(element(items, i + 4), where, "EVALSHA move-read");
            item.fields.reserve(2 * fields.size());
            for (const auto& [name, value] : fields) {
                item.fields.emplace_back(name);
                item.fields.emplace_back(value);
            }
            out.push_back(std::move(item));
        }
        return out;
    }

    static std::vector<std::string> strings_of(const redisReply& array, const std::string& where) {
        expect_array(array, where, "EVALSHA move-read");
        std::vector<std::string> out;
        out.reserve(array.elements);
        for (std::size_t i = 0; i < array.elements; ++i) out.emplace_back(string_of(element(array, i), where, "EVALSHA move-read"));
        return out;
    }

    /// First half, by the index: @p ids where the index says they are. Ids held by a worker are
    /// marked; those the index does not place in the channel are appended to @p left.
    std::vector<MoveItem> read_indexed(MoveRun& run, std::span<const std::string> ids, std::vector<std::string>& left) {
        return with_connection([&](Connection& connection) {
            Reply reply = run_script(connection, move_read_call(head_, run.from, Lookup{}, ids));
            const std::string& where = connection.endpoint();
            throw_if_error_reply(*reply, where, "EVALSHA move-read");
            expect_array(*reply, where, "EVALSHA move-read");
            if (reply->elements != 3) throw_unexpected_reply(*reply, where, "EVALSHA move-read", "{items, left, held}");
            for (auto& id : strings_of(element(*reply, 1), where)) left.push_back(std::move(id));
            for (const auto& id : strings_of(element(*reply, 2), where)) run.states[id].held = true;
            return move_items(element(*reply, 0), where);
        });
    }

    /// First half, by a scan: one bounded step over the channel for @p ids. Advances the cursors.
    std::vector<MoveItem> read_scan_step(MoveRun& run, const std::vector<std::string>& ids, std::string& stream_cursor,
                                         std::string& hash_cursor) {
        return with_connection([&](Connection& connection) {
            const Lookup lookup{Lookup::Mode::scan, stream_cursor, hash_cursor};
            Reply reply = run_script(connection, move_read_call(head_, run.from, lookup, ids));
            const std::string& where = connection.endpoint();
            throw_if_error_reply(*reply, where, "EVALSHA move-read");
            expect_array(*reply, where, "EVALSHA move-read");
            if (reply->elements != 2) throw_unexpected_reply(*reply, where, "EVALSHA move-read", "{items, cursors}");
            auto cursors = strings_of(element(*reply, 1), where);
            if (cursors.size() != 2) throw_unexpected_reply(element(*reply, 1), where, "EVALSHA move-read", "two cursors");
            auto items = move_items(element(*reply, 0), where);
            stream_cursor = std::move(cursors[0]);
            hash_cursor = std::move(cursors[1]);
            return items;
        });
    }

    /// The new bytes of @p item after the rewrite ("" = moved as it is), or why it stays.
    static std::optional<std::string> rewritten_bytes(MoveRun& run, const MoveItem& item) {
        if (!run.rewrite) return std::string();
        std::vector<EntryField> fields;
        fields.reserve(item.fields.size() / 2);
        for (std::size_t f = 0; f + 1 < item.fields.size(); f += 2) fields.emplace_back(item.fields[f], item.fields[f + 1]);
        Delivery delivery = delivery_from_entry(run.from, item.kind == "s" ? std::string_view(item.ref) : std::string_view("0-0"),
                                                fields, 0);
        MoveState& state = run.states[item.id];
        if (delivery.poisoned()) {
            state.skip = MoveSkip{item.id, MoveSkipReason::undecodable, std::move(delivery.decode_error)};
            return std::nullopt;
        }
        Message& message = delivery.message;
        try {
            run.rewrite(message);
        } catch (const std::exception& e) {
            state.skip = MoveSkip{item.id, MoveSkipReason::rewrite_failed, e.what()};
            return std::nullopt;
        } catch (...) {
            state.skip = MoveSkip{item.id, MoveSkipReason::rewrite_failed, "the rewrite threw a non-standard exception"};
            return std::nullopt;
        }
        if (message.id != item.id) {
            state.skip = MoveSkip{item.id, MoveSkipReason::rewrite_failed, "the rewrite changed the id to \"" + message.id + "\""};
            return std::nullopt;
        }
        return encode_message(message);
    }

    /// Second half: rewrites @p items and moves them, one script call (compare-and-swap) per chunk.
    void apply_moves(MoveRun& run, std::vector<MoveItem>& items) {
        std::vector<std::pair<const MoveItem*, std::string>> ready;  // item, new bytes ("" = as it is)
        ready.reserve(items.size());
        for (const auto& item : items) {
            if (auto bytes = rewritten_bytes(run, item)) ready.emplace_back(&item, std::move(*bytes));
        }
        for (std::size_t begin = 0; begin < ready.size();) {
            std::size_t end = begin, bytes = 0;
            while (end < ready.size() && end - begin < kMoveChunk && bytes < kChunkBytes) {
                bytes += ready[end].second.size() + ready[end].first->value.size();
                ++end;
            }
            // The same token on every try of this chunk: a repeat after a lost reply moves nothing twice.
            const std::string token = generate_message_id();
            std::vector<MoveArg> moves;
            moves.reserve(end - begin);
            for (std::size_t i = begin; i < end; ++i) {
                const MoveItem& item = *ready[i].first;
                moves.push_back(MoveArg{item.kind, item.ref, item.value, item.id, static_cast<bool>(run.rewrite), ready[i].second});
            }
            const ScriptCall call = move_call(head_, run.from, run.to, run.delay, token, run.via, moves);
            const std::string letters = with_connection([&](Connection& connection) {
                Reply reply = run_script(connection, call);
                const std::string& where = connection.endpoint();
                throw_if_error_reply(*reply, where, "EVALSHA move");
                std::string text(string_of(*reply, where, "EVALSHA move"));
                if (text.size() != end - begin) throw_unexpected_reply(*reply, where, "EVALSHA move", "one letter per message");
                return text;
            });
            for (std::size_t i = begin; i < end; ++i) {
                const std::string& id = ready[i].first->id;
                MoveState& state = run.states[id];
                switch (letters[i - begin]) {
                    case 'm':
                        state.moved = true;
                        run.result.moved.push_back(id);
                        break;
                    case 'r': state.held = true; break;
                    case 'c':
                        if (!state.changed) run.changed.push_back(id);
                        state.changed = true;
                        break;
                    case 'f':
                        state.skip = MoveSkip{id, MoveSkipReason::undecodable,
                                              "its entry holds fields besides the message id and bytes (another "
                                              "producer's), which a move to another shard group cannot carry; it stays"};
                        break;
                    default: break;  // gone since it was read: not found, unless moved by another item
                }
            }
            begin = end;
        }
    }

    /// @p via outbox: @p to is a channel of another shard group (its keys in another slot), so the
    /// messages go to this group's outbox and the relay publishes them.
    MoveResult move(const std::string& from, const std::string& to, const std::vector<std::string>& ids,
                    const MessageRewrite& rewrite, Seconds delay, MoveVia via = MoveVia::target) {
        check_channel(from, "move");
        check_channel(to, "move");
        if (from == to) throw InvalidArgumentError("RedisAdapter::move: the source and target channel are the same (\"" + from + "\")");
        const std::string delay_text = delay_ms(delay, "move");
        std::vector<std::string> wanted;  // each id once, in order
        {
            std::unordered_set<std::string_view> seen;
            for (const auto& id : ids) {
                if (seen.insert(id).second) wanted.push_back(id);
            }
        }
        MoveRun run{from, to, delay_text, rewrite, via, {}, {}, {}};
        run.states.reserve(wanted.size());
        std::vector<std::string> left;
        for (std::size_t begin = 0; begin < wanted.size(); begin += kMoveChunk) {
            const std::size_t count = std::min(kMoveChunk, wanted.size() - begin);
            auto items = read_indexed(run, std::span<const std::string>(wanted).subspan(begin, count), left);
            apply_moves(run, items);
        }
        // A message promoted from the delayed set between the halves is read again (a few rounds).
        for (int round = 0; round < 3 && !run.changed.empty(); ++round) {
            std::vector<std::string> again;
            again.swap(run.changed);
            for (const auto& id : again) run.states[id].changed = false;
            for (std::size_t begin = 0; begin < again.size(); begin += kMoveChunk) {
                const std::size_t count = std::min(kMoveChunk, again.size() - begin);
                auto items = read_indexed(run, std::span<const std::string>(again).subspan(begin, count), left);
                apply_moves(run, items);
            }
        }
        // Ids the index does not place in the channel (a later message with the same id went
        // elsewhere, an entry of another producer): a scan of the channel in bounded steps.
        std::erase_if(left, [&](const std::string& id) { return run.states[id].moved; });
        std::sort(left.begin(), left.end());
        left.erase(std::unique(left.begin(), left.end()), left.end());
        if (!left.empty()) {
            std::string stream_cursor = "start", hash_cursor = "0";
            constexpr int kMaxSteps = 1'000'000;
            for (int step = 0; step < kMaxSteps && (stream_cursor != "done" || hash_cursor != "done"); ++step) {
                auto items = read_scan_step(run, left, stream_cursor, hash_cursor);
                apply_moves(run, items);
            }
        }
        for (const auto& id : wanted) {
            MoveState& state = run.states[id];
            if (state.moved) continue;
            if (state.skip) run.result.skipped.push_back(std::move(*state.skip));
            else if (state.held) run.result.skipped.push_back(MoveSkip{id, MoveSkipReason::reserved, {}});
            else if (state.changed) run.result.skipped.push_back(MoveSkip{id, MoveSkipReason::changed, "it kept changing while being moved"});
            else run.result.skipped.push_back(MoveSkip{id, MoveSkipReason::not_found, {}});
        }
        return std::move(run.result);
    }

    std::vector<std::string> channels() {
        return with_connection([&](Connection& connection) {
            Args command{"SMEMBERS", head_.channels_key()};
            Reply reply = connection.command(command);
            const std::string& where = connection.endpoint();
            throw_if_error_reply(*reply, where, "SMEMBERS");
            expect_array(*reply, where, "SMEMBERS");
            std::vector<std::string> names;
            names.reserve(reply->elements);
            for (std::size_t i = 0; i < reply->elements; ++i) names.emplace_back(string_of(element(*reply, i), where, "SMEMBERS"));
            std::sort(names.begin(), names.end());
            return names;
        });
    }

    void ping() {
        with_connection([&](Connection& connection) {
            Reply reply = connection.command(Args{"PING"});
            throw_if_error_reply(*reply, connection.endpoint(), "PING");
            if (string_of(*reply, connection.endpoint(), "PING") != "PONG") {
                throw_unexpected_reply(*reply, connection.endpoint(), "PING", "PONG");
            }
        });
    }

    std::string info(std::string_view section) {
        return with_connection([&](Connection& connection) {
            Args command{"INFO"};
            if (!section.empty()) command.add(section);
            Reply reply = connection.command(command);
            throw_if_error_reply(*reply, connection.endpoint(), "INFO");
            return std::string(string_of(*reply, connection.endpoint(), "INFO"));
        });
    }

private:
    static RedisAdapter::Options validated(RedisAdapter::Options options) {
        check_positive(options.connect_timeout, "connect_timeout");
        check_positive(options.command_timeout, "command_timeout");
        check_positive(options.visibility_timeout, "visibility_timeout");
        if (options.key_prefix.empty()) throw InvalidArgumentError("failpipe::RedisAdapter: key_prefix must not be empty");
        if (options.key_prefix.find_first_of("{}") != std::string::npos) {
            throw InvalidArgumentError("failpipe::RedisAdapter: key_prefix must not contain '{' or '}' (the adapter wraps it "
                                       "in a cluster hash tag itself)");
        }
        if (options.pool_size == 0) throw InvalidArgumentError("failpipe::RedisAdapter: pool_size must be at least 1");
        check_positive(options.outbox_poll, "outbox_poll");
        if (options.durability == RedisAdapter::Durability::replicas) {
            if (options.durability_replicas == 0 || options.durability_replicas > 1000) {
                throw InvalidArgumentError("failpipe::RedisAdapter: durability_replicas must be 1..1000 with durability \"replicas\"");
            }
            check_positive(options.durability_timeout, "durability_timeout");
        }
        return options;
    }

    static ReplicaWait replica_wait(const RedisAdapter::Options& options) {
        ReplicaWait wait;
        if (options.durability != RedisAdapter::Durability::replicas) return wait;
        wait.replicas = static_cast<long long>(options.durability_replicas);
        wait.timeout_ms = std::max(1LL, ceil_ms(options.durability_timeout));
        wait.command_timeout = std::chrono::milliseconds(std::max(1LL, ceil_ms(options.command_timeout)));
        return wait;
    }

    static ClusterMode cluster_mode(RedisAdapter::Cluster cluster) {
        switch (cluster) {
            case RedisAdapter::Cluster::yes: return ClusterMode::on;
            case RedisAdapter::Cluster::no: return ClusterMode::off;
            case RedisAdapter::Cluster::automatic: break;
        }
        return ClusterMode::automatic;
    }

    /// Runs @p f on a connection to the node that holds the prefix's slot (the one server, or that
    /// slot's master on a cluster): see Router::with_slot for what is retried and when.
    template <class F>
    auto with_connection(F&& f) -> decltype(f(std::declval<Connection&>())) {
        return router_.with_slot(slot_, std::forward<F>(f));
    }

    /// As with_connection, on the write lane (never a connection a blocked reserve holds): for the
    /// outbox relay, which runs beside workers that may hold every pooled connection in reserves.
    template <class F>
    auto with_write_connection(F&& f) -> decltype(f(std::declval<Connection&>())) {
        return router_.with_slot(slot_, std::forward<F>(f), Lane::writes);
    }

    // Settles and releases whose round trip failed: the next try of the same delivery tells the
    // script it may be a repeat. Entries older than the visibility timeout are useless and pruned.
    bool in_doubt(const Delivery& delivery) {
        if (doubt_count_.load(std::memory_order_acquire) == 0) return false;  // the usual case: no key built
        const std::string key = doubt_key_of(delivery);
        std::lock_guard lock(doubt_mutex_);
        return doubt_.count(key) != 0;
    }
    void set_doubt(const Delivery& delivery) {
        const std::string key = doubt_key_of(delivery);
        std::lock_guard lock(doubt_mutex_);
        const auto now = Clock::now();
        if (doubt_.size() >= 4096) {
            const auto horizon = std::chrono::duration_cast<Clock::duration>(options_.visibility_timeout) + std::chrono::seconds(60);
            std::erase_if(doubt_, [&](const auto& entry) { return now - entry.second > horizon; });
        }
        doubt_[key] = now;
        doubt_count_.store(doubt_.size(), std::memory_order_release);
    }
    void clear_doubt(const Delivery& delivery) {
        if (doubt_count_.load(std::memory_order_acquire) == 0) return;
        const std::string key = doubt_key_of(delivery);
        std::lock_guard lock(doubt_mutex_);
        doubt_.erase(key);
        doubt_count_.store(doubt_.size(), std::memory_order_release);
    }

    /// The one error mapping of every write (settle, settle_batch, release, push): nullptr when
    /// @p op was applied, else the exception its caller sees. A round trip that failed may have
    /// been applied: the next try of @p delivery is flagged as a possible repeat.
    std::exception_ptr outcome_of(const WriteOp& op, const char* operation, const Delivery* delivery) {
        const std::string what = std::string("RedisAdapter::") + operation + ": ";
        switch (op.failure) {
            case WriteOp::Failure::none: break;
            case WriteOp::Failure::timeout:
                if (delivery != nullptr) set_doubt(*delivery);
                return std::make_exception_ptr(TimeoutError(what + op.error));
            case WriteOp::Failure::connection:
                if (delivery != nullptr) set_doubt(*delivery);
                return std::make_exception_ptr(ConnectionError(what + op.error));
            case WriteOp::Failure::durability:
                // Applied: the next try of the delivery is a repeat, recognised as done and confirmed.
                if (delivery != nullptr) set_doubt(*delivery);
                return std::make_exception_ptr(DurabilityError(what + op.error));
            case WriteOp::Failure::refused:
            case WriteOp::Failure::operation: return std::make_exception_ptr(ProtocolError(what + op.error));
        }
        if (delivery == nullptr) return nullptr;
        clear_doubt(*delivery);
        if (op.status == 0) return std::make_exception_ptr(stale(operation, *delivery));
        return nullptr;
    }

    RedisAdapter::Options options_;
    Counters counters_;  // before router_, which keeps a reference
    bool owns_router_;   // false: another core's router (it counts commands and connects there)
    std::shared_ptr<Router> router_owner_;
    Router& router_;     // before writer_, which keeps a reference
    ScriptHead head_;    // before writer_, which keeps a reference
    std::uint16_t slot_;  // of head_'s prefix: every key of the adapter is in it
    std::string reclaim_every_ms_;
    std::chrono::milliseconds command_timeout_;
    ReplicaWait durability_;
    WriteCombiner writer_;

    std::mutex doubt_mutex_;
    std::unordered_map<std::string, Clock::time_point> doubt_;
    std::atomic<std::size_t> doubt_count_{0};
};

std::vector<Message> run_browse_script(AdapterCore& core, const std::string& channel,
                                       const std::function<ScriptCall(const ScriptHead&)>& make,
                                       std::vector<std::string>& header, const char* what) {
    return core.run_browse(channel, make(core.script_head()), header, what);
}

/// One AdapterCore per shard group, each under its group's hash tag, made when first needed (a
/// channel the config does not know can be a group of its own). Cores are never removed, so a
/// reference stays valid for the adapter's life. Every core uses @p router, the adapter's one set of
/// connections (one pool per master, or one pool on one Redis), not pools of its own: with many
/// groups the server sees pool_size connections per master, not groups × pool_size.
class ShardedCores {
public:
    ShardedCores(const RedisAdapter::Options& options, std::shared_ptr<Router> router)
        : options_(options), groups_(*options.shard_groups), router_(std::move(router)) {
        options_.shard_groups.reset();
        for (const auto& group : groups_.groups()) core_named(group.name);
    }

    std::string group_of(const std::string& channel) const { return groups_.group_of(channel); }

    /// True when @p group is one of the config's groups: a worker's relay passes over those (and
    /// over groups its worker met), never over a group only this process knows.
    bool configured(const std::string& group) const { return groups_.find(group) != nullptr; }

    AdapterCore& core_named(const std::string& group) {
        std::lock_guard lock(mutex_);
        auto found = cores_.find(group);
        if (found == cores_.end()) {
            auto core = std::make_unique<AdapterCore>(options_, shard_hash_tag(options_.key_prefix, group), router_);
            found = cores_.emplace(group, std::move(core)).first;
        }
        return *found->second;
    }

    AdapterCore& core_of(const std::string& channel) { return core_named(group_of(channel)); }

    /// Every core made so far (the config's groups, then groups met since), by group name.
    std::vector<AdapterCore*> all() const {
        std::lock_guard lock(mutex_);
        std::vector<AdapterCore*> cores;
        cores.reserve(cores_.size());
        for (auto& [name, core] : cores_) cores.push_back(core.get());
        return cores;
    }

    /// Every core made so far with its group's name, by name.
    std::vector<std::pair<std::string, AdapterCore*>> named() const {
        std::lock_guard lock(mutex_);
        std::vector<std::pair<std::string, AdapterCore*>> cores;
        cores.reserve(cores_.size());
        for (auto& [name, core] : cores_) cores.emplace_back(name, core.get());
        return cores;
    }

    /// Which pushes of @p settlement go to a channel of another group than @p delivery's: one
    /// script cannot write two groups' slots, so those go to the settling group's outbox (same
    /// atomic step) and the relay publishes them. Throws InvalidArgumentError for an empty channel.
    std::vector<bool> crossing(const Delivery& delivery, const Settlement& settlement, const char* operation) const {
        std::vector<bool> crosses;
        if (settlement.pushes.empty()) return crosses;
        check_channel(delivery.channel, operation);
        const std::string source = group_of(delivery.channel);
        crosses.reserve(settlement.pushes.size());
        for (const auto& push : settlement.pushes) {
            check_channel(push.channel, operation);
            crosses.push_back(group_of(push.channel) != source);
        }
        return crosses;
    }

private:
    RedisAdapter::Options options_;
    ShardGroups groups_;
    std::shared_ptr<Router> router_;
    mutable std::mutex mutex_;
    std::map<std::string, std::unique_ptr<AdapterCore>, std::less<>> cores_;
};

namespace {

/// Channels split by group, groups in the order of their first channel (so earlier channels' groups are polled first).
std::vector<std::pair<AdapterCore*, std::vector<std::string>>> by_group(ShardedCores& sharded,
                                                                        const std::vector<std::string>& channels) {
    std::vector<std::pair<AdapterCore*, std::vector<std::string>>> groups;
    for (const auto& channel : channels) {
        check_channel(channel, "reserve");
        AdapterCore* core = &sharded.core_of(channel);
        auto found = std::find_if(groups.begin(), groups.end(), [&](const auto& group) { return group.first == core; });
        if (found == groups.end()) {
            groups.emplace_back(core, std::vector<std::string>{});
            found = std::prev(groups.end());
        }
        found->second.push_back(channel);
    }
    return groups;
}

// While a reserve over several groups waits, it blocks on its first group for this long at a time,
// then polls the others: a message of a later group waits at most this long when all are idle.
constexpr std::chrono::milliseconds kGroupPollSlice{50};

}  // namespace

}  // namespace detail::redis

namespace detail::redis {
namespace {

// The layout the options and their URL ask for, checked: never one the caller did not choose.
RedisAdapter::Options with_checked_layout(RedisAdapter::Options options) {
    if (const auto from_url = take_key_layout(options.url)) {
        if (options.key_layout && *options.key_layout != *from_url) {
            throw InvalidArgumentError("failpipe::RedisAdapter: the Redis URL says keyLayout=" + std::string(to_string(*from_url)) +
                                       " but Options::key_layout is \"" + std::string(to_string(*options.key_layout)) +
                                       "\": say it in one place, or make them agree");
        }
        options.key_layout = from_url;
    }
    const KeyLayout layout = options.key_layout.value_or(options.shard_groups ? KeyLayout::groups : KeyLayout::prefix);
    const std::string& prefix = options.key_prefix;
    if (layout == KeyLayout::groups && !options.shard_groups) {
        throw InvalidArgumentError("failpipe::RedisAdapter: key layout \"groups\" (each shard group's keys under {" + prefix +
                                   ":<group>}) needs the shard groups, and none were given: set Options::shard_groups "
                                   "(Config::shard_groups: RedisAdapter::with_key_layout does it; on the command line, "
                                   "--config FILE); nothing was read or written");
    }
    if (layout == KeyLayout::prefix && options.shard_groups) {
        throw InvalidArgumentError("failpipe::RedisAdapter: key layout \"prefix\" (every key under {" + prefix +
                                   "}) was asked, but shard groups were given too (Options::shard_groups), which put keys "
                                   "under {" + prefix + ":<group>}: drop one of them");
    }
    options.key_layout = layout;
    return options;
}

}  // namespace
}  // namespace detail::redis

RedisAdapter::RedisAdapter(Options options) {
    options = detail::redis::with_checked_layout(std::move(options));
    core_ = std::make_unique<detail::redis::AdapterCore>(options, std::string());
    if (options.shard_groups) {
        sharded_ = std::make_unique<detail::redis::ShardedCores>(options, core_->router());
        outbox_figures_ = std::make_unique<detail::redis::OutboxFigures>();
    }
}

std::optional<KeyLayout> RedisAdapter::url_key_layout(std::string_view url) {
    std::string copy(url);
    return detail::redis::take_key_layout(copy);
}

RedisAdapter::Options RedisAdapter::with_key_layout(Options options, std::optional<KeyLayout> config_layout,
                                                    const ShardGroups* groups) {
    const auto from_url = url_key_layout(options.url);  // the URL keeps it: the constructor reads it again
    if (from_url && config_layout && *from_url != *config_layout) {
        throw InvalidArgumentError("failpipe::RedisAdapter: the Redis URL says keyLayout=" + std::string(to_string(*from_url)) +
                                   " but the config says \"keyLayout\": \"" + std::string(to_string(*config_layout)) +
                                   "\": make them agree, or say it in one place");
    }
    const KeyLayout layout = from_url.value_or(config_layout.value_or(KeyLayout::prefix));
    if (layout == KeyLayout::groups) {
        if (groups == nullptr) {
            throw InvalidArgumentError(std::string("failpipe::RedisAdapter: ") +
                                       (from_url ? "the Redis URL asks for keyLayout=groups" : "key layout \"groups\" was asked") +
                                       ", but there is no config to derive the shard groups from: give the workers' "
                                       "config (on the command line: --config FILE); nothing was read or written");
        }
        options.shard_groups = *groups;
    } else {
        options.shard_groups.reset();
    }
    options.key_layout = layout;
    return options;
}

namespace {

DurabilitySetting durability_of(const RedisAdapter::Options& options) {
    DurabilitySetting setting;
    setting.mode = options.durability == RedisAdapter::Durability::replicas ? DurabilitySetting::Mode::replicas
                                                                              : DurabilitySetting::Mode::master;
    setting.replicas = options.durability_replicas;
    setting.wait = std::chrono::milliseconds(std::llround(options.durability_timeout.count() * 1000.0));
    return setting;
}

std::string describe(const DurabilitySetting& setting) {
    if (setting.mode == DurabilitySetting::Mode::master) return "master";
    return "replicas (" + std::to_string(setting.replicas) + " replica(s), waitMs " + std::to_string(setting.wait.count()) + ")";
}

}  // namespace

RedisAdapter::Options RedisAdapter::with_durability(Options options, const std::optional<DurabilitySetting>& config_durability) {
    if (!config_durability) return options;
    std::string url = options.url;
    (void)detail::redis::take_key_layout(url);  // not a durability parameter
    Options from_url;
    from_url.url = url;
    from_url = detail::redis::with_url_durability(std::move(from_url));  // the query's, over the defaults
    if (from_url.url != url) {  // the query named durability: the URL applies it when the adapter is made
        if (durability_of(from_url) != *config_durability) {
            throw InvalidArgumentError("failpipe::RedisAdapter: the Redis URL says durability " + describe(durability_of(from_url)) +
                                       " but the config says \"durability\": " + describe(*config_durability) +
                                       ": make them agree, or say it in one place");
        }
        return options;
    }
    options.durability = config_durability->mode == DurabilitySetting::Mode::replicas ? Durability::replicas : Durability::master;
    options.durability_replicas = config_durability->replicas;
    options.durability_timeout = Seconds{static_cast<double>(config_durability->wait.count()) / 1000.0};
    return options;
}

RedisAdapter::Options RedisAdapter::with_config(Options options, const Config& config) {
    return with_durability(with_key_layout(std::move(options), config.key_layout, &config.shard_groups), config.durability);
}

RedisAdapter::RedisAdapter() : RedisAdapter(Options{}) {}
RedisAdapter::~RedisAdapter() {
    relay_.reset();  // stopped and joined before the cores it uses go
}

void RedisAdapter::start_relay() {
    if (!sharded_ || !core_->options().outbox_relay || relay_started_.load(std::memory_order_acquire)) return;
    std::call_once(relay_once_, [this] {
        const auto idle = std::chrono::milliseconds(detail::redis::ceil_ms(core_->options().outbox_poll));
        relay_ = std::make_unique<detail::redis::RelayThread>([this] { return relay_outbox(); }, idle);
        relay_started_.store(true, std::memory_order_release);
    });
}

void RedisAdapter::wake_relay() noexcept {
    if (relay_started_.load(std::memory_order_acquire)) relay_->wake();
}

detail::redis::AdapterCore& RedisAdapter::core_of(const std::string& channel) {
    if (!sharded_) return *core_;
    detail::redis::check_channel(channel, "push");
    return sharded_->core_of(channel);
}

std::string RedisAdapter::push(const std::string& channel, Message message, Seconds delay) {
    detail::redis::check_channel(channel, "push");
    std::string delay_text = detail::redis::delay_ms(delay, "push");
    if (message.id.empty()) message.id = generate_message_id();
    std::string bytes = encode_message(message);
    check_message_size(message, bytes.size(), core_->max_message_bytes(), "RedisAdapter::push");
    return core_of(channel).push_one(channel, std::move(message.id), std::move(bytes), std::move(delay_text));
}

std::vector<std::string> RedisAdapter::push_batch(std::vector<OutgoingMessage> messages) {
    if (messages.empty()) return {};
    if (!sharded_) return core_->push_batch(messages);
    for (const auto& outgoing : messages) detail::redis::check_channel(outgoing.channel, "push_batch");
    // One batch per group, each in the order given; ids put back in the caller's order.
    std::map<detail::redis::AdapterCore*, std::vector<std::size_t>> positions;
    for (std::size_t i = 0; i < messages.size(); ++i) positions[&sharded_->core_of(messages[i].channel)].push_back(i);
    std::vector<std::string> ids(messages.size());
    for (auto& [core, where] : positions) {
        std::vector<OutgoingMessage> part;
        part.reserve(where.size());
        for (std::size_t i : where) part.push_back(std::move(messages[i]));
        std::vector<std::string> part_ids = core->push_batch(part);
        for (std::size_t k = 0; k < where.size(); ++k) ids[where[k]] = std::move(part_ids[k]);
    }
    return ids;
}

std::vector<Delivery> RedisAdapter::reserve(const std::vector<std::string>& channels, std::size_t max_messages,
                                            std::chrono::milliseconds wait) {
    if (!sharded_ || channels.empty()) return core_->reserve(channels, max_messages, wait);
    start_relay();
    auto groups = detail::redis::by_group(*sharded_, channels);
    if (groups.size() == 1) return groups.front().first->reserve(groups.front().second, max_messages, wait);
    if (wait.count() < 0) throw InvalidArgumentError("RedisAdapter::reserve: the wait must not be negative");
    const auto deadline = std::chrono::steady_clock::now() + wait;
    std::vector<Delivery> out;
    while (true) {
        // Groups in the order of their first channel; within a group the script's own order.
        for (auto& [core, names] : groups) {
            if (out.size() >= max_messages) break;
            auto got = core->reserve(names, max_messages - out.size(), std::chrono::milliseconds(0));
            std::move(got.begin(), got.end(), std::back_inserter(out));
        }
        const auto now = std::chrono::steady_clock::now();
        if (!out.empty() || now >= deadline) return out;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
        out = groups.front().first->reserve(groups.front().second, max_messages, std::min(left, detail::redis::kGroupPollSlice));
        if (!out.empty()) return out;
    }
}

void RedisAdapter::settle(const Delivery& delivery, Settlement&& settlement) {
    if (!sharded_) return core_->settle(delivery, settlement);
    start_relay();
    const std::vector<bool> crossing = sharded_->crossing(delivery, settlement, "settle");
    core_of(delivery.channel).settle(delivery, settlement, &crossing);
    if (std::find(crossing.begin(), crossing.end(), true) != crossing.end()) wake_relay();
}

std::vector<std::exception_ptr> RedisAdapter::settle_batch(std::vector<SettleItem> items) {
    if (!sharded_) return core_->settle_batch(items);
    start_relay();
    std::vector<std::exception_ptr> outcomes(items.size());
    std::map<detail::redis::AdapterCore*, std::vector<std::size_t>> positions;
    std::vector<std::vector<bool>> crossing(items.size());
    bool outbox = false;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (items[i].delivery == nullptr || items[i].settlement == nullptr) {
            throw InvalidArgumentError("RedisAdapter::settle_batch: null delivery or settlement");
        }
        try {
            crossing[i] = sharded_->crossing(*items[i].delivery, *items[i].settlement, "settle_batch");
            positions[&sharded_->core_of(items[i].delivery->channel)].push_back(i);
            outbox = outbox || std::find(crossing[i].begin(), crossing[i].end(), true) != crossing[i].end();
        } catch (const Error&) {
            outcomes[i] = std::current_exception();  // that item's own result: the others go ahead
        }
    }
    std::exception_ptr whole;  // a group's round trip failed: thrown after every group was tried
    for (auto& [core, where] : positions) {
        std::vector<SettleItem> part;
        std::vector<std::vector<bool>> part_crossing;
        part.reserve(where.size());
        part_crossing.reserve(where.size());
        for (std::size_t i : where) {
            part.push_back(items[i]);
            part_crossing.push_back(std::move(crossing[i]));
        }
        try {
            auto part_outcomes = core->settle_batch(part, &part_crossing);
            for (std::size_t k = 0; k < where.size(); ++k) outcomes[where[k]] = std::move(part_outcomes[k]);
        } catch (const Error&) {
            if (!whole) whole = std::current_exception();
        }
    }
    if (outbox) wake_relay();
    if (whole) std::rethrow_exception(whole);
    return outcomes;
}

void RedisAdapter::release(const Delivery& delivery, Seconds delay) { core_of(delivery.channel).release(delivery, delay); }

std::size_t RedisAdapter::reclaim() {
    if (!sharded_) return core_->reclaim();
    std::size_t reclaimed = 0;
    for (auto* core : sharded_->all()) reclaimed += core->reclaim();
    return reclaimed;
}

MessageStatus RedisAdapter::status(const std::string& id) {
    if (!sharded_) return core_->status(id);
    MessageStatus found;
    for (auto* core : sharded_->all()) {
        found = core->status(id);
        if (found.state != MessageState::not_found) return found;
    }
    return found;
}

ChannelDepth RedisAdapter::depth(const std::string& channel) { return core_of(channel).depth(channel); }

std::vector<Message> RedisAdapter::browse(const std::string& channel, std::size_t offset, std::size_t limit) {
    return core_of(channel).browse(channel, offset, limit);
}

std::size_t RedisAdapter::remove(const std::string& channel, const std::vector<std::string>& ids) {
    return core_of(channel).remove(channel, ids);
}

std::size_t RedisAdapter::evict(const std::string& channel, const std::vector<std::string>& ids) {
    return core_of(channel).remove(channel, ids, true);
}

std::uint64_t RedisAdapter::evicted(const std::string& channel) { return core_of(channel).evicted(channel); }

MoveResult RedisAdapter::move(const std::string& from, const std::string& to, const std::vector<std::string>& ids,
                              const MessageRewrite& rewrite, Seconds delay) {
    if (!sharded_) return core_->move(from, to, ids, rewrite, delay);
    detail::redis::check_channel(from, "move");
    detail::redis::check_channel(to, "move");
    // One script cannot write two groups' slots: to another group, through the source group's outbox.
    const auto outbox = outbox_of_move(from, to);
    if (!outbox) return core_of(from).move(from, to, ids, rewrite, delay);
    const std::string& source = *outbox;
    const std::string target = sharded_->group_of(to);
    if (!sharded_->configured(source)) {
        throw InvalidArgumentError("RedisAdapter::move: \"" + from + "\" (shard group \"" + source + "\") and \"" + to +
                                   "\" (shard group \"" + target + "\") are in different shard groups, so the move would "
                                   "go through the outbox of \"" + source + "\"; but the config names no such group, "
                                   "so no worker would relay it: name \"" + from + "\" (or its working channel) in the "
                                   "config, or move within its group; nothing was moved");
    }
    MoveResult result = core_of(from).move(from, to, ids, rewrite, delay, detail::redis::MoveVia::outbox);
    if (!result.moved.empty()) wake_relay();
    return result;
}

std::optional<std::string> RedisAdapter::outbox_of_move(const std::string& from, const std::string& to) const {
    if (!sharded_) return std::nullopt;
    std::string source = sharded_->group_of(from);
    if (source == sharded_->group_of(to)) return std::nullopt;
    return source;
}

std::vector<std::string> RedisAdapter::channels() {
    if (!sharded_) return core_->channels();
    std::vector<std::string> names;
    for (auto* core : sharded_->all()) {
        auto part = core->channels();
        names.insert(names.end(), part.begin(), part.end());
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    return names;
}

std::string RedisAdapter::push_raw(const std::string& channel, std::string bytes) {
    detail::redis::check_channel(channel, "push_raw");
    // Known by the id inside the bytes when they have one (so a half-broken message keeps its id).
    std::string id;
    const auto json = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
    if (json.is_object()) {
        const auto found = json.find("id");
        if (found != json.end() && found->is_string()) id = found->get<std::string>();
    }
    if (id.empty()) id = generate_message_id();
    return core_of(channel).push_one(channel, std::move(id), std::move(bytes), "0");
}

void RedisAdapter::ping() { core_->ping(); }

std::string RedisAdapter::info(std::string_view section) { return core_->info(section); }

const RedisAdapter::Options& RedisAdapter::options() const noexcept { return core_->options(); }

const std::string& RedisAdapter::endpoint() const noexcept { return core_->endpoint(); }

namespace detail::redis {
namespace {

// One group's relay step: take, publish each entry to its channel with its token, acknowledge
// what was published. Returns how many entries were relayed; what could not be published stays
// in the outbox (taken over by a relay after the visibility timeout) and is counted as failed.
std::size_t relay_group(ShardedCores& sharded, const std::string& group, AdapterCore& source, OutboxFigures& figures,
                        std::size_t max) {
    OutboxTake take = source.outbox_take(max);
    if (!take.unreadable.empty()) {
        const std::string error = "outbox entry " + take.unreadable.front() + " of shard group \"" + group +
                                  "\" lacks a field (t, i, b, d, k; written by hand?): left in the outbox";
        logger().error("RedisAdapter: {} ({} such entries)", error, take.unreadable.size());
        figures.failed(group, take.unreadable.size(), error);
    }
    if (take.entries.empty()) return 0;
    // One apply call (of push operations, each with its entry's token) per target group.
    std::map<AdapterCore*, std::vector<std::size_t>> by_target;
    for (std::size_t i = 0; i < take.entries.size(); ++i) by_target[&sharded.core_of(take.entries[i].target)].push_back(i);
    std::vector<std::string> done;
    std::vector<std::pair<std::size_t, std::string>> failures;  // per target group: how many, the first error
    done.reserve(take.entries.size());
    for (auto& [target, positions] : by_target) {
        std::vector<WriteOp> ops;
        ops.reserve(positions.size());
        for (std::size_t i : positions) {
            const OutboxEntry& entry = take.entries[i];
            std::vector<PushArg> push;
            push.push_back(PushArg{entry.target, entry.id, std::string_view(entry.bytes), remaining_delay_ms(entry, take.now_ms)});
            ops.emplace_back(PushOpArg{false, entry.token, std::move(push)});
        }
        target->send_ops(ops, Lane::writes);
        std::size_t failed = 0;
        std::string first_error;
        for (std::size_t k = 0; k < ops.size(); ++k) {
            const OutboxEntry& entry = take.entries[positions[k]];
            if (ops[k].failure == WriteOp::Failure::none && ops[k].status >= 1) {
                done.push_back(entry.stream_id);  // 1 published now, 2 by an earlier relay
                continue;
            }
            if (failed++ == 0) {
                first_error = "could not publish follow-up " + entry.id + " from shard group \"" + group + "\" to \"" +
                              entry.target + "\" (it stays in the outbox and is tried again after the visibility "
                              "timeout): " + ops[k].error;
            }
        }
        if (failed > 0) {
            // One line per target group and pass (a round trip that failed fails all its entries).
            logger().warn("RedisAdapter: {}{}", first_error,
                          failed > 1 ? " (and " + std::to_string(failed - 1) + " more follow-up(s) of this pass)" : "");
            failures.emplace_back(failed, std::move(first_error));
        }
    }
    outbox_fault_point("pushed");
    source.outbox_ack(done);
    figures.relayed(group, done.size());
    for (auto& [count, error] : failures) figures.failed(group, count, std::move(error));  // last: the error stays shown
    return done.size();
}

}  // namespace
}  // namespace detail::redis

std::size_t RedisAdapter::relay_outbox(std::size_t max_per_group) {
    if (!sharded_) return 0;
    if (max_per_group == 0) throw InvalidArgumentError("RedisAdapter::relay_outbox: max_per_group must be at least 1");
    std::size_t relayed = 0;
    std::exception_ptr first;  // one group's failure does not keep the others waiting
    for (auto& [group, core] : sharded_->named()) {
        try {
            relayed += detail::redis::relay_group(*sharded_, group, *core, *outbox_figures_, max_per_group);
        } catch (const Error& e) {
            outbox_figures_->failed(group, 0, e.what());
            logger().debug("RedisAdapter: relaying the outbox of shard group \"{}\" failed: {}", group, e.what());
            if (!first) first = std::current_exception();
        }
    }
    // Thrown only when nothing moved (the relay thread then backs off): a group whose master is
    // away must not slow down the others.
    if (first && relayed == 0) std::rethrow_exception(first);
    return relayed;
}

std::vector<RedisAdapter::OutboxLag> RedisAdapter::outbox_lag() {
    std::vector<OutboxLag> lags;
    if (!sharded_) return lags;
    for (auto& [group, core] : sharded_->named()) {
        const auto state = core->outbox_state();
        const auto figures = outbox_figures_->of(group);
        lags.push_back(OutboxLag{group, state.entries, Seconds{state.oldest_age_s}, figures.relayed, figures.failed,
                                 figures.last_error});
    }
    return lags;
}

void RedisAdapter::write_metrics(PrometheusWriter& writer) {
    if (!sharded_) return;
    for (const auto& lag : outbox_lag()) {
        const std::vector<PrometheusLabel> labels{{"group", lag.group}};
        writer.gauge("failpipe_outbox_relay_lag_seconds",
                     "Age of the oldest follow-up in the shard group's outbox not yet relayed to its channel (0 when none)",
                     labels, lag.oldest_age.count());
        writer.gauge("failpipe_outbox_entries", "Follow-ups in the shard group's outbox not yet relayed", labels,
                     static_cast<double>(lag.entries));
        writer.counter("failpipe_outbox_relayed_total",
                       "Follow-ups this process relayed from the shard group's outbox to their channels", labels,
                       static_cast<double>(lag.relayed));
        writer.counter("failpipe_outbox_relay_failures_total",
                       "Attempts of this process to relay a follow-up of the shard group's outbox that failed (the "
                       "follow-up stays in the outbox)",
                       labels, static_cast<double>(lag.failed));
    }
}

RedisAdapter::Stats RedisAdapter::stats() const noexcept {
    Stats total = core_->stats();
    if (!sharded_) return total;
    for (const auto* core : sharded_->all()) {
        const Stats part = core->stats();
        total.commands += part.commands;
        total.connects += part.connects;
        total.write_round_trips += part.write_round_trips;
        total.write_operations += part.write_operations;
        total.cluster_moved += part.cluster_moved;
        total.cluster_asked += part.cluster_asked;
        total.cluster_waits += part.cluster_waits;
        total.cluster_map_loads += part.cluster_map_loads;
    }
    return total;
}

}  // namespace failpipe
