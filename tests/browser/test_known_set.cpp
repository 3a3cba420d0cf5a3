// The known set the dashboard tests look at (known_set.hpp), checked through the library: what the
// page must show is what DeadLetters and the adapter say.
#include <doctest/doctest.h>

#include <algorithm>

#include "known_set.hpp"
#include "redis/redis_test_support.hpp"

using namespace failpipe;
using namespace failpipe::browser_test;

TEST_CASE("known set: the counts, groups and records the dashboard tests expect") {
    const auto set = fill_known_set(redis_test::test_redis_url(), redis_test::unique_prefix("browser"));
    DeadLetters letters(set.adapter);
    CHECK(set.adapter->depth("orders").ready == KnownSet::kOrdersReady);
    CHECK(set.adapter->depth("orders").delayed == KnownSet::kOrdersDelayed);
    CHECK(letters.counts("orders").dead == KnownSet::kOrdersDead);
    CHECK(letters.counts("payments").dead == KnownSet::kPaymentsDead);
    CHECK(set.adapter->depth("emails").ready == KnownSet::kEmailsReady);
    CHECK(letters.counts("emails").dead == KnownSet::kEmailsDead);
    CHECK(letters.show("emails", set.raw_id).undecodable);

    const auto orders = letters.groups({.channel = "orders"});
    REQUIRE(orders.size() == 4);
    CHECK(orders[0].fingerprint == KnownSet::timeout_fingerprint());
    CHECK(orders[0].count == 3);
    const auto payments = letters.groups({.channel = "payments"});
    REQUIRE(payments.size() == 2);
    CHECK(payments[0].count == 4);
    CHECK(payments[0].error_type == "failpipe::PermanentError");
    CHECK(payments[1].count == 1);

    const auto paid = letters.show("payments", "pay-1");
    CHECK(paid.attempts == 3);
    CHECK(paid.message.metadata.at("failpipe-dead-letter").at("history").size() == 3);
    const auto poison = letters.show("orders", set.poison_id);
    CHECK(poison.reason == "poison");
    const auto xss = letters.show("orders", kXssId);
    CHECK(xss.error_message == kXssScript);
    CHECK(xss.message.data.at("note") == kXssAttribute);
    CHECK(letters.list({.channel = "orders", .reason = "max-deliveries"}).items.at(0).id == "n2");
}
