// The known set of messages the dashboard tests look at, written into Redis through the library under
// a key prefix of the test's own:
//
//   orders    2 ready, 1 delayed; 7 dead letters in 4 groups:
//               t1 t2 t3   std::runtime_error "timeout after N ms"   failure, transient
//               n1 n2      app::NotFound "order N not found"         n1 failure, n2 max-deliveries, permanent
//               kXssId     app::Render "<script>..."                 failure, unknown; data holds HTML too
//               (poison)   bytes that are no message, dead-lettered by a Worker (reason poison)
//   payments  5 dead letters in 2 groups, failed by a real Worker run (sent again twice, then
//             dead-lettered: an attempt history of 3 each): pay-1..pay-4 PermanentError "card 4111 declined: insufficient
//             funds" (numbers differ, one fingerprint), pay-5 TransientError "gateway timeout after 30 s"
//   emails    1 ready; 1 dead letter a foreign producer wrote as bytes that are no message (undecodable,
//             with markup in them)
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "dead_letters_cases.hpp"
#include "failpipe/dead_letters.hpp"
#include "failpipe/error.hpp"
#include "failpipe/fingerprint.hpp"
#include "failpipe/redis/redis_adapter.hpp"
#include "failpipe/send_again_middleware.hpp"
#include "failpipe/worker.hpp"

namespace failpipe::browser_test {

/// Script in a dead letter's error text, and markup that breaks out of an attribute in its data and id:
/// shown by the page, none may run (the test checks window.__xss stays undefined).
inline constexpr const char* kXssScript = "<script>window.__xss=1</script>";
inline constexpr const char* kXssAttribute = "\"><img src=x onerror=\"window.__xss=1\">";
inline constexpr const char* kXssId = "x1\"><img src=x onerror=\"window.__xss=1\">";

struct KnownSet {
    std::string url;
    std::string prefix;
    std::shared_ptr<RedisAdapter> adapter;
    std::string poison_id;  ///< The id the worker gave the poison dead letter.
    std::string raw_id;     ///< The id of the undecodable dead letter of emails.

    // What the overview must show.
    static constexpr std::size_t kOrdersReady = 2, kOrdersDelayed = 1, kOrdersDead = 7;
    static constexpr std::size_t kPaymentsDead = 5, kEmailsReady = 1, kEmailsDead = 1;

    static std::string timeout_fingerprint() { return error_fingerprint("std::runtime_error", "timeout after 1 ms"); }
    static std::vector<std::string> timeout_ids() { return {"t1", "t2", "t3"}; }
};

inline std::shared_ptr<RedisAdapter> adapter_on(const std::string& url, const std::string& prefix) {
    RedisAdapter::Options options;
    options.url = url;
    options.key_prefix = prefix;
    options.connect_timeout = Seconds{0.5};
    options.command_timeout = Seconds{2.0};
    return std::make_shared<RedisAdapter>(options);
}

/// Writes the known set into the server at @p url under @p prefix (which must be unused).
inline KnownSet fill_known_set(const std::string& url, const std::string& prefix) {
    KnownSet set{url, prefix, adapter_on(url, prefix), {}, {}};
    auto& adapter = *set.adapter;

    // Poison first, while `orders` holds nothing else the worker would take.
    adapter.push_raw("orders", "{\"handler\": 12, not json");
    Worker(set.adapter, {}, {}, {.channels = {"orders"}}).run_until_idle(10);
    const auto poison = DeadLetters(set.adapter).list({.channel = "orders", .reason = "poison"});
    REQUIRE(poison.items.size() == 1);
    set.poison_id = poison.items.front().id;

    using dead_letter_cases::Seed;
    std::vector<Seed> seeds;
    seeds.push_back({"t1", "std::runtime_error", "timeout after 3012 ms", "failure", "transient", "2026-03-01T10:00:00.000Z"});
    seeds.push_back({"t2", "std::runtime_error", "timeout after 250 ms", "failure", "transient", "2026-03-02T10:00:00.000Z"});
    seeds.push_back({"t3", "std::runtime_error", "timeout after 7 ms", "failure", "transient", "2026-03-03T10:00:00.000Z"});
    seeds.push_back({"n1", "app::NotFound", "order 8812 not found", "failure", "permanent", "2026-03-02T12:00:00.000Z"});
    seeds.push_back({"n2", "app::NotFound", "order 17 not found", "max-deliveries", "permanent", "2026-03-04T12:00:00.000Z"});
    dead_letter_cases::seed(adapter, seeds);
    Message xss = dead_letter_cases::dead_letter_message(
        {kXssId, "app::Render", kXssScript, "failure", "unknown", "2026-03-05T09:00:00.000Z"});
    xss.data = {{"note", kXssAttribute}, {"html", kXssScript}};
    adapter.push("orders:dlq", std::move(xss));

    for (int i = 1; i <= 2; ++i) adapter.push("orders", Message::create("order", {{"n", i}}));
    adapter.push("orders", Message::create("order", {{"n", 3}}), Seconds{3600.0});
    adapter.push("emails", Message::create("email", {{"to", "ops@example.com"}}));

    adapter.push_raw("emails:dlq", std::string("\xff\xfe<script>window.__xss=1</script>", 33));
    const auto raw = DeadLetters(set.adapter).list({.channel = "emails"});
    REQUIRE(raw.items.size() == 1);
    REQUIRE(raw.items.front().undecodable);
    set.raw_id = raw.items.front().id;

    // payments: failed by a worker, so their records are exactly what production writes.
    for (int i = 1; i <= 5; ++i) {
        Message message = Message::create("payment", {{"card", 4100 + i}});
        message.id = "pay-" + std::to_string(i);
        adapter.push("payments", std::move(message));
    }
    // Sent again twice first, so each dead letter carries an attempt history of three.
    FailureMiddlewareDispatcher::Options pipelines;
    pipelines.pipelines["payments"] = {std::make_shared<SendAgainMiddleware>("again", 2)};
    Worker payments(set.adapter, FailureMiddlewareDispatcher(pipelines), {}, {.channels = {"payments"}});
    payments.on("payment", [](const Message& message, HandlerContext&) {
        if (message.id == "pay-5") throw TransientError("gateway timeout after 30 s");
        throw PermanentError("card " + message.data.at("card").dump() + " declined: insufficient funds");
    });
    payments.run_until_idle(50);
    return set;
}

}  // namespace failpipe::browser_test
