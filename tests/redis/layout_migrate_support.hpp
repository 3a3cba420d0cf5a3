// Helpers of the key-layout migration tests (one Redis and the cluster): a deployment of the
// `prefix` layout with every kind of message (ready, delayed, dead letters with their reasons, a
// foreign producer's entries, an expired reservation, an eviction count), a snapshot of what each
// channel holds, raw commands on the node of a key, and `failpipe layout migrate` run to completion
// or SIGKILLed part-way.
#pragma once

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cluster_client.hpp"
#include "cluster_slots.hpp"
#include "connection.hpp"
#include "failpipe/config.hpp"
#include "failpipe/message.hpp"
#include "key_layout_support.hpp"
#include "redis_test_support.hpp"
#include "router.hpp"

namespace failpipe::migrate_test {

using namespace std::chrono_literals;
using key_layout_test::ConfigFile;

/// `orders` and `emails`, each its own shard group with its dead letters; @p visibility: the
/// workers' visibility timeout (s); @p groups: a `groups` member to add (JSON text, or empty).
inline std::string config_text(double visibility = 30, const std::string& groups = {}) {
    std::string text = R"({
  "pipelines": {
    "orders": [{"type": "dead-letter", "id": "invalid", "on": ["permanent"]}],
    "emails": [{"type": "dead-letter", "id": "invalid", "on": ["permanent"]}]
  },
  "worker": {"channels": ["orders", "emails"], "visibilityTimeout": )" + std::to_string(visibility) + "}";
    if (!groups.empty()) text += ",\n  \"groups\": " + groups;
    return text + "\n}\n";
}

/// Commands on the node that holds a key's slot (one server or a cluster), outside any adapter.
class RawRedis {
public:
    explicit RawRedis(const std::string& url)
        : router_(detail::redis::parse_seed_list(url), detail::redis::ClusterMode::automatic,
                  detail::redis::ClusterSettings{Seconds{2.0}, Seconds{5.0}, 2, 2}, counters_) {}

    /// @p args (args[1] is the key that routes it); the reply as strings (an integer as its digits,
    /// an array flattened one level, nil as "(nil)").
    std::vector<std::string> run(const std::vector<std::string>& args) {
        return router_.with_slot(detail::redis::key_slot(args.at(1)), [&](detail::redis::Connection& c) {
            detail::redis::Args command;
            for (const auto& a : args) command.add(a);
            detail::redis::Reply reply = c.command(command);
            std::vector<std::string> out;
            flatten(*reply, out);
            return out;
        });
    }

private:
    static void flatten(const redisReply& r, std::vector<std::string>& out) {
        if (r.type == REDIS_REPLY_INTEGER) out.push_back(std::to_string(r.integer));
        else if (r.type == REDIS_REPLY_NIL) out.emplace_back("(nil)");
        else if (r.type == REDIS_REPLY_ARRAY) {
            for (std::size_t i = 0; i < r.elements; ++i) flatten(*r.element[i], out);
        } else out.emplace_back(detail::redis::text_of(r));
    }
    detail::redis::Counters counters_;
    detail::redis::Router router_;
};

inline std::shared_ptr<RedisAdapter> old_layout(const std::string& url, const std::string& prefix) {
    RedisAdapter::Options options;
    options.url = url;
    options.key_prefix = prefix;
    return std::make_shared<RedisAdapter>(options);
}

inline std::shared_ptr<RedisAdapter> new_layout(const std::string& url, const std::string& prefix, const Config& config) {
    RedisAdapter::Options options;
    options.url = url;
    options.key_prefix = prefix;
    options.outbox_relay = false;
    return std::make_shared<RedisAdapter>(RedisAdapter::with_key_layout(options, KeyLayout::groups, &config.shard_groups));
}

/// Every waiting message of each channel, encoded, sorted (what a migration must keep exactly).
using Snapshot = std::map<std::string, std::vector<std::string>>;

inline Snapshot snapshot(RedisAdapter& adapter, const std::vector<std::string>& channels) {
    Snapshot out;
    for (const auto& channel : channels) {
        auto& list = out[channel];
        for (auto m : adapter.browse(channel, 0, 1'000'000)) {
            // An entry that is not a message is shown with a reason naming its current stream id,
            // which a move changes: its id and fields are what must survive.
            m.metadata.erase("failpipe-decode-error");
            list.push_back(encode_message(m));
        }
        std::sort(list.begin(), list.end());
    }
    return out;
}

inline const std::vector<std::string> kChannels{"orders", "orders:dlq", "emails"};

inline Message message(const std::string& id, const std::string& handler = "send") {
    Message m;
    m.id = id;
    m.handler = handler;
    m.data = {{"n", id}};
    m.metadata["trace"] = "t-" + id;
    return m;
}

/// What fill() left under the prefix, to compare with after the move.
struct Filled {
    Snapshot waiting;                          ///< browse of every channel (the reserved ones not included)
    std::vector<std::string> delayed_scores;   ///< ZRANGE {P}:d:orders WITHSCORES
    std::string foreign_sid;                   ///< the foreign entry without an id
    std::size_t messages = 0;                  ///< everything the migration must move
};

/// A deployment of the prefix layout with every kind of message. The config's visibility timeout
/// must be short (1 s): two reservations of `emails` are left to expire.
inline Filled fill(const std::string& url, const std::string& prefix, const Config& config) {
    auto old = old_layout(url, prefix);
    // Dead letters with their failure records: three messages a worker fails for good.
    for (int i = 0; i < 3; ++i) old->push("orders", message("dead" + std::to_string(i), "job"));
    REQUIRE(key_layout_test::dead_letter_all(old, config, [&] { return old->depth("orders:dlq").ready == 3; }));
    old->evict("orders:dlq", {"dead0"});  // an eviction count to carry over
    for (int i = 0; i < 40; ++i) old->push("orders", message("o" + std::to_string(i)));
    for (int i = 0; i < 6; ++i) old->push("orders", message("od" + std::to_string(i)), Seconds{3600.0 + i});
    for (int i = 0; i < 25; ++i) old->push("emails", message("e" + std::to_string(i)));
    RawRedis raw(url);
    const std::string emails = "{" + prefix + "}:s:emails";
    raw.run({"XADD", emails, "*", "i", "f1", "b", encode_message(message("f1")), "n", "3", "origin", "legacy"});
    Filled filled;
    filled.foreign_sid = raw.run({"XADD", emails, "*", "order", "42", "customer", "ann"}).at(0);
    // Two reservations left to expire (a worker that died holding them).
    REQUIRE(old->reserve({"emails"}, 2, 0ms).size() == 2);
    filled.waiting = snapshot(*old, kChannels);
    filled.delayed_scores = raw.run({"ZRANGE", "{" + prefix + "}:d:orders", "0", "-1", "WITHSCORES"});
    REQUIRE(filled.delayed_scores.size() == 12);
    filled.messages = 2 + 40 + 6 + 25 + 2;  // dead letters, orders, delayed, emails (reserved included), foreign
    std::this_thread::sleep_for(1500ms);     // the reservations are older than the visibility timeout now
    return filled;
}

/// A deployment of the prefix layout under @p prefix filled by fill(), with its config (visibility 1 s).
struct Deployment {
    Deployment(std::string url_, std::string prefix_)
        : url(std::move(url_)), prefix(std::move(prefix_)), file(config_text(1)), config(load_config_file(file.path())),
          filled(fill(url, prefix, config)) {}
    std::string url;
    std::string prefix;
    ConfigFile file;
    Config config;
    Filled filled;
};

/// Checks that everything fill() wrote is under the groups' keys, once, and nothing under {prefix}.
inline void check_moved(const std::string& url, const std::string& prefix, const Config& config, const Filled& filled) {
    auto moved = new_layout(url, prefix, config);
    RawRedis raw(url);
    // The expired reservations come back first, counted as one more delivery, as a reclaim gives them back.
    const auto again = moved->reserve({"emails"}, 2, 0ms);
    REQUIRE(again.size() == 2);
    CHECK(again[0].message.id == "e0");
    CHECK(again[1].message.id == "e1");
    for (const auto& d : again) {
        CHECK(d.deliveries == 2);
        moved->release(d);
    }
    Snapshot now = snapshot(*moved, kChannels);
    auto& emails = filled.waiting.at("emails");
    std::vector<std::string> expected_emails = emails;
    for (const auto& d : again) expected_emails.push_back(encode_message(d.message));
    std::sort(expected_emails.begin(), expected_emails.end());
    CHECK(now.at("emails") == expected_emails);
    CHECK(now.at("orders") == filled.waiting.at("orders"));
    CHECK(now.at("orders:dlq") == filled.waiting.at("orders:dlq"));
    CHECK(moved->depth("orders").delayed == 6);
    CHECK(moved->evicted("orders:dlq") == 1);
    // Due times kept to the millisecond.
    const std::string orders_tag = shard_hash_tag(prefix, config.shard_groups.group_of("orders"));
    CHECK(raw.run({"ZRANGE", orders_tag + ":d:orders", "0", "-1", "WITHSCORES"}) == filled.delayed_scores);
    // The foreign producer's fields and delivery count, and the entry without an id (known by its old stream id).
    const std::string emails_tag = shard_hash_tag(prefix, config.shard_groups.group_of("emails"));
    const auto entries = raw.run({"XRANGE", emails_tag + ":s:emails", "-", "+"});
    const auto has = [&](const std::vector<std::string>& run) {
        return std::search(entries.begin(), entries.end(), run.begin(), run.end()) != entries.end();
    };
    CHECK(has({"origin", "legacy", "n", "3"}));
    CHECK(has({"o", filled.foreign_sid, "order", "42", "customer", "ann"}));
    CHECK(moved->status("stream-" + filled.foreign_sid).state == MessageState::ready);
    // Nothing left under {prefix}.
    const std::string old_tag = "{" + prefix + "}";
    CHECK(raw.run({"SCARD", old_tag + ":channels"}) == std::vector<std::string>{"0"});
    CHECK(raw.run({"EXISTS", old_tag + ":s:orders", old_tag + ":d:orders", old_tag + ":b:orders", old_tag + ":s:emails",
                   old_tag + ":idx", old_tag + ":evicted:orders:dlq"}) == std::vector<std::string>{"0"});
}

/// Total messages waiting (ready + delayed + reserved) in @p channels of @p adapter.
inline std::size_t total(RedisAdapter& adapter, const std::vector<std::string>& channels) {
    std::size_t n = 0;
    for (const auto& c : channels) {
        const auto d = adapter.depth(c);
        n += d.ready + d.delayed + d.reserved;
    }
    return n;
}

#ifdef FAILPIPE_CLI
/// `failpipe layout migrate --redis @p url --config @p config --prefix @p prefix` plus @p more.
inline std::string migrate_args(const std::string& url, const std::string& prefix, const ConfigFile& config,
                                const std::string& more = {}) {
    return "layout migrate --redis '" + url + "' --config '" + config.path() + "' --prefix '" + prefix + "'" +
           (more.empty() ? "" : " " + more);
}

/// Starts the CLI with @p args (a shell command line, output discarded) and SIGKILLs it as soon as
/// @p now_kill holds (polled every 2 ms, at most 60 s). True when the SIGKILL ended it; false when it
/// ended by itself first (on a loaded machine the test may not run for a while, and the CLI finishes).
inline bool kill_migration_when(const std::string& args, const std::function<bool()>& now_kill) {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::execl("/bin/sh", "sh", "-c", ("exec " + std::string(FAILPIPE_CLI) + " " + args + " >/dev/null 2>&1").c_str(),
                static_cast<char*>(nullptr));
        ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(pid, &status, WNOHANG) == pid) return false;
        if (now_kill()) break;
        std::this_thread::sleep_for(2ms);
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    // It may have ended between the last look and the kill: only a death by SIGKILL is a kill.
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

/// @p count messages (a tenth delayed) in three channels under @p prefix; the migration SIGKILLed
/// after about a sixth, two sixths and half of them have arrived in the groups, then run to its end:
/// each message is in its group once, with every field, and nothing is left under {prefix}. False
/// when a run ended (or had copied everything) before its kill: checked all the same, but it was
/// not killed part-way.
inline bool killed_and_resumed(const std::string& url, const std::string& prefix, std::size_t count) {
    const ConfigFile file(config_text());
    const Config config = load_config_file(file.path());
    auto old = old_layout(url, prefix);
    auto moved = new_layout(url, prefix, config);
    std::vector<OutgoingMessage> batch;
    for (std::size_t i = 0; i < count; ++i) {
        const std::string channel = i % 3 == 0 ? "orders" : i % 3 == 1 ? "emails" : "orders:dlq";
        batch.push_back(OutgoingMessage{channel, message("m" + std::to_string(i)), Seconds{i % 10 == 0 ? 600.0 : 0.0}});
    }
    old->push_batch(batch);
    const Snapshot before = snapshot(*old, kChannels);
    const std::string args = migrate_args(url, prefix, file, "--batch 20");
    bool killed_every_time = true;
    for (std::size_t kill = 1; kill <= 3 && killed_every_time; ++kill) {
        const bool killed = kill_migration_when(args, [&] { return total(*moved, kChannels) >= count / 6 * kill; });
        const std::size_t arrived = total(*moved, kChannels), left = total(*old, kChannels);
        INFO("run ", kill, (killed ? " killed" : " ended first"), ": ", arrived, " of ", count, " in the groups, ",
             left, " in the old layout");
        killed_every_time = killed && arrived < count;  // killed part-way, not after its last copy
        CHECK(arrived + left >= count);  // none lost (a batch may be in both until the next run)
        CHECK(arrived + left <= count + 20);
    }
    const auto finish = key_layout_test::run_cli(args);
    INFO(finish.output);
    REQUIRE(finish.status == 0);
    CHECK(snapshot(*moved, kChannels) == before);  // each message exactly once, every field kept
    CHECK(total(*moved, kChannels) == count);
    CHECK(total(*old, kChannels) == 0);
    return killed_every_time;
}

/// killed_and_resumed() under a prefix from @p fresh_prefix, 3,000 messages; should a run end
/// before its kill (a machine so loaded that the test did not run for the whole rest of the
/// migration), again with twice as many, up to 24,000: one try must kill all three runs part-way.
inline void check_killed_and_resumed(const std::string& url, const std::function<std::string()>& fresh_prefix) {
    for (std::size_t count = 3000; count <= 24000; count *= 2) {
        if (killed_and_resumed(url, fresh_prefix(), count)) return;
        MESSAGE("with ", count, " messages a migration run ended before its SIGKILL");
    }
    FAIL("no try SIGKILLed all three migration runs part-way, the last with 24,000 messages");
}
#endif

}  // namespace failpipe::migrate_test
