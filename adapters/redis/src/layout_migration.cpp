#include "failpipe/redis/layout_migration.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <span>

#include "cluster_client.hpp"
#include "cluster_slots.hpp"
#include "connection.hpp"
#include "durability.hpp"
#include "failpipe/redis/redis_adapter.hpp"
#include "router.hpp"
#include "script_args.hpp"
#include "scripts.hpp"
#include "url.hpp"
#include "write_combiner.hpp"

namespace failpipe {
namespace detail::redis {
namespace {

constexpr std::size_t kMaxBatch = 10000;
// Live reservations listed per channel (the rest are counted).
constexpr std::size_t kListedHeld = 20;
// No channel needs more batches than this (10^9 messages at the smallest batch).
constexpr std::size_t kMaxBatches = 1'000'000'000;
// WAITs for one batch's copies before the run stops (10 x waitMs: 10 s with the default). A
// replica that lags, or one restarted that is still loading its master's data, catches up within
// that; nothing is deleted from the old keys before the copies are confirmed, so waiting costs
// only time, and giving up at the first WAIT would stop a long run for a moment's lag.
constexpr int kConfirmRounds = 10;

long long whole_ms(Seconds seconds) { return std::max(1LL, static_cast<long long>(std::ceil(seconds.count() * 1000.0))); }

const redisReply& at(const redisReply& array, std::size_t index) { return *array.element[index]; }

std::string text(const redisReply& reply, const std::string& where, std::string_view what) {
    if (reply.type != REDIS_REPLY_STRING && reply.type != REDIS_REPLY_STATUS) throw_unexpected_reply(reply, where, what, "a string");
    return std::string(text_of(reply));
}

long long number(const redisReply& reply, const std::string& where, std::string_view what) {
    if (reply.type != REDIS_REPLY_INTEGER) throw_unexpected_reply(reply, where, what, "an integer");
    return reply.integer;
}

const redisReply& array(const redisReply& reply, const std::string& where, std::string_view what, std::size_t at_least = 0) {
    if (reply.type != REDIS_REPLY_ARRAY || reply.elements < at_least) throw_unexpected_reply(reply, where, what, "an array");
    return reply;
}

std::vector<std::string> strings(const redisReply& reply, const std::string& where, std::string_view what) {
    array(reply, where, what);
    std::vector<std::string> out;
    out.reserve(reply.elements);
    for (std::size_t i = 0; i < reply.elements; ++i) out.push_back(text(at(reply, i), where, what));
    return out;
}

// The WAIT the URL's `?durability=replicas` asks for (none by default), after each copy: the old
// entries are deleted only once the copies are on that many replicas, so a failover of the group's
// master cannot lose a message that was already deleted from the old keys.
RedisAdapter::Options url_durability(const std::string& url) {
    RedisAdapter::Options adapter;
    adapter.url = url;
    return with_url_durability(adapter);
}

std::string without_durability(const std::string& url) { return url_durability(url).url; }

// The copies just written on @p connection (@p what: which) confirmed on the replicas
// `?durability=replicas` asks for, WAITing up to kConfirmRounds times; DurabilityError when they
// are not, before anything of them is deleted from the old keys.
void confirm_on_replicas(Connection& connection, const ReplicaWait& wait, const std::string& what) {
    long long confirmed = 0;
    for (int round = 0; round < kConfirmRounds; ++round) {
        confirmed = replicas_confirming(connection, wait);
        if (confirmed >= wait.replicas) return;
    }
    throw DurabilityError("Redis at " + connection.endpoint() + ": " + what + ", but WAIT confirmed it on only " +
                          std::to_string(confirmed) + " of " + std::to_string(wait.replicas) + " replica(s) in " +
                          std::to_string(kConfirmRounds) + " tries of " + std::to_string(wait.timeout_ms) +
                          " ms (durability \"replicas\"): its old entries were not deleted, so nothing is lost; check "
                          "that master's replicas (INFO replication) before going on");
}

ReplicaWait replica_wait_of(const RedisLayoutMigration::Options& options) {
    const RedisAdapter::Options adapter = url_durability(options.url);
    ReplicaWait wait;
    if (adapter.durability != RedisAdapter::Durability::replicas) return wait;
    wait.replicas = static_cast<long long>(adapter.durability_replicas);
    wait.timeout_ms = whole_ms(adapter.durability_timeout);
    wait.command_timeout = std::chrono::milliseconds(whole_ms(options.command_timeout));
    return wait;
}

RedisLayoutMigration::Options checked(RedisLayoutMigration::Options options) {
    take_key_layout(options.url);  // the migration always goes from prefix to groups
    RedisAdapter::Options adapter;  // the adapter's own checks of the URL's query, prefix and timeouts
    adapter.url = options.url;
    adapter.key_prefix = options.key_prefix;
    adapter.connect_timeout = options.connect_timeout;
    adapter.command_timeout = options.command_timeout;
    adapter.visibility_timeout = options.visibility_timeout;
    const RedisAdapter check(adapter);  // does not connect
    if (options.batch == 0 || options.batch > kMaxBatch) {
        throw InvalidArgumentError("failpipe::RedisLayoutMigration: batch must be 1.." + std::to_string(kMaxBatch));
    }
    return options;
}

}  // namespace

/// The state of one migration: the connections and one script head per key layout side.
class MigrationRun {
public:
    explicit MigrationRun(RedisLayoutMigration::Options options)
        : options_(checked(std::move(options))),
          durability_(replica_wait_of(options_)),
          router_(parse_seed_list(without_durability(options_.url)), ClusterMode::automatic,
                  ClusterSettings{options_.connect_timeout, options_.command_timeout, 2, 2}, counters_),
          visibility_ms_(std::to_string(whole_ms(options_.visibility_timeout))),
          old_("{" + options_.key_prefix + "}", visibility_ms_) {}

    template <class F>
    auto call(const ScriptHead& head, F&& f) {
        return router_.with_slot(key_slot(head.prefix()), std::forward<F>(f));
    }
    template <class F>
    auto call_old(F&& f) {
        return call(old_, std::forward<F>(f));
    }

    Reply script(const ScriptHead& head, const ScriptCall& c, std::string_view what) {
        return call(head, [&](Connection& connection) {
            Reply reply = run_script(connection, c);
            throw_if_error_reply(*reply, connection.endpoint(), what);
            return reply;
        });
    }

    const ScriptHead& head_of(const std::string& group) {
        auto found = heads_.find(group);
        if (found == heads_.end()) {
            found = heads_.emplace(group, ScriptHead(shard_hash_tag(options_.key_prefix, group), visibility_ms_)).first;
        }
        return found->second;
    }

    RedisLayoutMigration::Plan plan() {
        RedisLayoutMigration::Plan plan;
        for (const auto& channel : old_channels()) plan.channels.push_back(channel_plan(channel, plan.held));
        const std::string record = old_.prefix() + ":migrated";
        plan.migrated_before = call_old([&](Connection& c) {
            Args exists{"EXISTS", record};
            Reply reply = c.command(exists);
            throw_if_error_reply(*reply, c.endpoint(), "EXISTS");
            return number(*reply, c.endpoint(), "EXISTS") == 1;
        });
        for (const auto& group : options_.groups.groups()) {
            const ScriptHead& head = head_of(group.name);
            plan.grouped_channels += static_cast<std::size_t>(call(head, [&](Connection& c) {
                Args scard{"SCARD", head.channels_key()};
                Reply reply = c.command(scard);
                throw_if_error_reply(*reply, c.endpoint(), "SCARD");
                return number(*reply, c.endpoint(), "SCARD");
            }));
        }
        return plan;
    }

    std::vector<RedisLayoutMigration::ChannelResult> run(const RedisLayoutMigration::Progress& progress) {
        const RedisLayoutMigration::Plan before = plan();
        refuse_unsafe(before);
        const std::size_t total = before.messages();
        std::size_t done = 0;
        std::vector<RedisLayoutMigration::ChannelResult> results;
        for (const auto& channel : before.channels) {
            results.push_back(move_channel(channel, [&](std::size_t handled) {
                done += handled;
                if (progress) progress(done, std::max(total, done));
            }));
        }
        return results;
    }

private:
    std::vector<std::string> old_channels() {
        auto names = call_old([&](Connection& c) {
            Args members{"SMEMBERS", old_.channels_key()};
            Reply reply = c.command(members);
            throw_if_error_reply(*reply, c.endpoint(), "SMEMBERS");
            return strings(*reply, c.endpoint(), "SMEMBERS");
        });
        std::sort(names.begin(), names.end());
        return names;
    }

    RedisLayoutMigration::ChannelPlan channel_plan(const std::string& channel, std::vector<RedisLayoutMigration::Held>& held) {
        RedisLayoutMigration::ChannelPlan plan;
        plan.channel = channel;
        plan.group = options_.groups.group_of(channel);
        plan.tag = shard_hash_tag(options_.key_prefix, plan.group);
        Reply depth = script(old_, depth_call(old_, channel), "EVALSHA depth");
        const std::string& where = router_.display();
        array(*depth, where, "EVALSHA depth", 3);
        plan.ready = static_cast<std::size_t>(std::max(0LL, number(at(*depth, 0), where, "EVALSHA depth")));
        plan.delayed = static_cast<std::size_t>(std::max(0LL, number(at(*depth, 1), where, "EVALSHA depth")));
        Reply inv = script(old_, migrate_inventory_call(old_, channel, plan.group, kListedHeld), "EVALSHA migrate-source");
        array(*inv, where, "EVALSHA migrate-source", 4);
        plan.recorded_group = text(at(*inv, 0), where, "EVALSHA migrate-source");
        plan.expired = static_cast<std::size_t>(std::max(0LL, number(at(*inv, 1), where, "EVALSHA migrate-source")));
        plan.held = static_cast<std::size_t>(std::max(0LL, number(at(*inv, 2), where, "EVALSHA migrate-source")));
        plan.evicted = static_cast<std::uint64_t>(std::max(0LL, number(at(*inv, 3), where, "EVALSHA migrate-source")));
        add_held(channel, *inv, 4, held);
        return plan;
    }

    // Live reservations listed in @p reply from @p first on: stream id, idle ms, message id.
    void add_held(const std::string& channel, const redisReply& reply, std::size_t first,
                  std::vector<RedisLayoutMigration::Held>& held) {
        const std::string& where = router_.display();
        for (std::size_t i = first; i + 2 < reply.elements; i += 3) {
            RedisLayoutMigration::Held h;
            h.channel = channel;
            h.stream_id = text(at(reply, i), where, "EVALSHA migrate-source");
            h.idle = Seconds{static_cast<double>(number(at(reply, i + 1), where, "EVALSHA migrate-source")) / 1000.0};
            h.id = text(at(reply, i + 2), where, "EVALSHA migrate-source");
            held.push_back(std::move(h));
        }
    }

    static std::string list_held(const std::vector<RedisLayoutMigration::Held>& held, std::size_t count) {
        std::string out;
        for (const auto& h : held) {
            char idle[32];
            std::snprintf(idle, sizeof idle, "%.1f", h.idle.count());
            out += "\n  " + h.channel + ": message " + h.id + " (stream entry " + h.stream_id + ", reserved " + idle + " s ago)";
        }
        if (count > held.size()) out += "\n  and " + std::to_string(count - held.size()) + " more";
        return out;
    }

    void refuse_unsafe(const RedisLayoutMigration::Plan& plan) const {
        if (const std::size_t count = plan.held_count(); count > 0) {
            throw LayoutMigrationRefused(
                std::to_string(count) + " message(s) under {" + options_.key_prefix +
                "} are reserved by workers right now (for less than the visibility timeout, " +
                format_seconds(options_.visibility_timeout) +
                "); moving them would hand them out twice: stop every worker of the prefix layout (they give back what "
                "they hold), or wait until their reservations are older than the visibility timeout; nothing was "
                "changed:" + list_held(plan.held, count));
        }
        const auto conflicts = plan.conflicts();
        if (!conflicts.empty()) {
            std::string list;
            for (const auto* c : conflicts) {
                list += "\n  \"" + c->channel + "\": an earlier run moved it to group \"" + c->recorded_group +
                        "\", this config puts it in group \"" + c->group + "\"";
            }
            throw LayoutMigrationRefused(
                "the config's shard groups do not match the ones an earlier run of the migration used, so the messages "
                "of these channels would end up split over two groups: run it with the config of the earlier run (or "
                "name the groups in \"groups\" to keep them); nothing was changed:" + list);
        }
    }

    static std::string format_seconds(Seconds s) {
        char out[32];
        std::snprintf(out, sizeof out, "%g s", s.count());
        return out;
    }

    // One batch of @p channel: read, copy, delete. Returns false when the channel held nothing more.
    bool move_batch(const RedisLayoutMigration::ChannelPlan& plan, const ScriptHead& target, std::string& cursor,
                    RedisLayoutMigration::ChannelResult& result, const std::function<void(std::size_t)>& handled) {
        const std::string& where = router_.display();
        constexpr std::string_view what = "EVALSHA migrate-source";
        Reply read = script(old_, migrate_read_call(old_, plan.channel, plan.group, options_.batch, cursor), what);
        array(*read, where, what, 1);
        const std::string status = text(at(*read, 0), where, what);
        if (status == "held") {
            std::vector<RedisLayoutMigration::Held> held;
            add_held(plan.channel, *read, 2, held);
            throw LayoutMigrationRefused("a worker reserved messages of \"" + plan.channel + "\" under {" + options_.key_prefix +
                                         "} during the migration: stop every worker of the prefix layout, then run it "
                                         "again (what was moved stays moved, the rest is untouched):" +
                                         list_held(held, static_cast<std::size_t>(number(at(*read, 1), where, what))));
        }
        if (status == "elsewhere") {
            throw LayoutMigrationRefused("\"" + plan.channel + "\" was being moved to group \"" + text(at(*read, 1), where, what) +
                                         "\" by an earlier run, and this config puts it in group \"" + plan.group +
                                         "\": run the migration with the earlier config; nothing of it was changed");
        }
        if (status != "ok" || (read->elements - 2) % 5 != 0) throw_unexpected_reply(*read, where, what, "a batch");
        cursor = text(at(*read, 1), where, what);
        std::vector<MigrateItem> items;
        for (std::size_t i = 2; i < read->elements; i += 5) {
            MigrateItem item;
            item.kind = text(at(*read, i), where, what);
            item.ref = text(at(*read, i + 1), where, what);
            item.num = text(at(*read, i + 2), where, what);
            item.token = text(at(*read, i + 3), where, what);
            item.fields = strings(at(*read, i + 4), where, what);
            items.push_back(std::move(item));
        }
        if (items.empty()) return false;
        Reply wrote = call(target, [&](Connection& connection) {
            Reply reply = run_script(connection, migrate_target_call(target, plan.channel, items));
            throw_if_error_reply(*reply, connection.endpoint(), "EVALSHA migrate-target");
            if (durability_.enabled()) {
                confirm_on_replicas(connection, durability_,
                                    "a batch of " + std::to_string(items.size()) + " entries of \"" + plan.channel +
                                        "\" was copied to group \"" + plan.group + "\"");
            }
            return reply;
        });
        const std::string letters = text(*wrote, where, "EVALSHA migrate-target");
        if (letters.size() != items.size()) throw_unexpected_reply(*wrote, where, "EVALSHA migrate-target", "one letter per item");
        Reply deleted = script(old_, migrate_delete_call(old_, plan.channel, items), what);
        const std::string gone = text(*deleted, where, what);
        std::size_t messages = 0, changed = 0;
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (gone[i] != 'd') ++changed;
            if (items[i].kind == "e") {
                if (letters[i] == 'm') result.evicted += std::stoull(items[i].num);
                continue;
            }
            ++messages;
            ++result.found;
            if (letters[i] == 'm') ++result.moved;
            else ++result.already_there;
        }
        handled(messages);
        if (changed > 0) {
            throw LayoutMigrationRefused(
                std::to_string(changed) + " message(s) of \"" + plan.channel + "\" changed under {" + options_.key_prefix +
                "} while they were being moved (reserved, promoted or removed by a process of the prefix layout): they "
                "were copied to group \"" + plan.group + "\" and are still in the old layout too; stop every worker and "
                "producer of the prefix layout, check those messages, then run the migration again");
        }
        return true;
    }

    // migrate-target with no item: it only registers the channel under the group's keys.
    void register_channel(const std::string& channel, const ScriptHead& target) {
        call(target, [&](Connection& connection) {
            Reply reply = run_script(connection, migrate_target_call(target, channel, {}));
            throw_if_error_reply(*reply, connection.endpoint(), "EVALSHA migrate-target");
            if (durability_.enabled()) {
                confirm_on_replicas(connection, durability_,
                                    "\"" + channel + "\" was registered under " + target.prefix());
            }
        });
    }

    RedisLayoutMigration::ChannelResult move_channel(const RedisLayoutMigration::ChannelPlan& plan,
                                                     const std::function<void(std::size_t)>& handled) {
        RedisLayoutMigration::ChannelResult result;
        result.channel = plan.channel;
        result.group = plan.group;
        const ScriptHead& target = head_of(plan.group);
        std::string cursor;
        for (std::size_t batch = 0; batch < kMaxBatches && move_batch(plan, target, cursor, result, handled); ++batch) {
        }
        // A channel with nothing to move (it held messages once) is still registered in its group,
        // before its old keys go: `failpipe channels` and `stats --channel` go on listing it.
        if (result.found == 0 && result.evicted == 0) register_channel(plan.channel, target);
        Reply finished = script(old_, migrate_finish_call(old_, plan.channel), "EVALSHA migrate-source");
        array(*finished, router_.display(), "EVALSHA migrate-source", 2);
        result.removed = number(at(*finished, 0), router_.display(), "EVALSHA migrate-source") == 1;
        return result;
    }

    RedisLayoutMigration::Options options_;
    ReplicaWait durability_;
    Counters counters_;  // before router_, which keeps a reference
    Router router_;
    std::string visibility_ms_;
    ScriptHead old_;
    std::map<std::string, ScriptHead> heads_;
};

}  // namespace detail::redis

std::vector<const RedisLayoutMigration::ChannelPlan*> RedisLayoutMigration::Plan::conflicts() const {
    std::vector<const ChannelPlan*> out;
    for (const auto& c : channels) {
        if (!c.recorded_group.empty() && c.recorded_group != c.group) out.push_back(&c);
    }
    return out;
}

std::size_t RedisLayoutMigration::Plan::messages() const noexcept {
    std::size_t total = 0;
    for (const auto& c : channels) total += c.messages();
    return total;
}

std::size_t RedisLayoutMigration::Plan::held_count() const noexcept {
    std::size_t total = 0;
    for (const auto& c : channels) total += c.held;
    return total;
}

RedisLayoutMigration::RedisLayoutMigration(Options options)
    : impl_(std::make_unique<detail::redis::MigrationRun>(std::move(options))) {}

RedisLayoutMigration::~RedisLayoutMigration() = default;

RedisLayoutMigration::Plan RedisLayoutMigration::plan() { return impl_->plan(); }

std::vector<RedisLayoutMigration::ChannelResult> RedisLayoutMigration::run(const Progress& progress) {
    return impl_->run(progress);
}

}  // namespace failpipe
