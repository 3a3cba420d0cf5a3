// The stream entry -> Delivery conversion on its own (no server): every shape of entry a foreign
// producer can write becomes a delivery, never an exception, and keeps what the producer wrote.
#include <doctest/doctest.h>

#include <vector>

#include "entry.hpp"
#include "failpipe/message.hpp"

using failpipe::detail::redis::carried_count;
using failpipe::detail::redis::delivery_from_entry;
using failpipe::detail::redis::EntryField;

namespace {

const std::string kBytes = [] {
    failpipe::Message message = failpipe::Message::create("job", 7);
    message.id = "inside";
    return failpipe::encode_message(message);
}();

}  // namespace

TEST_CASE("entry: the adapter's own shape is a message known by its i field") {
    const std::vector<EntryField> fields{{"i", "m1"}, {"b", kBytes}, {"n", "2"}};
    const auto delivery = delivery_from_entry("c", "5-1", fields, 1234);
    CHECK_FALSE(delivery.poisoned());
    CHECK(delivery.message.id == "m1");  // the entry's id, not the one inside the bytes
    CHECK(delivery.message.handler == "job");
    CHECK(delivery.deliveries == 3);
    CHECK(delivery.channel == "c");
    CHECK(delivery.receipt == "5-1 1234 m1");
}

TEST_CASE("entry: foreign shapes become poisoned deliveries that keep every field") {
    SUBCASE("no b") {
        const std::vector<EntryField> fields{{"i", "p"}, {"order", "42"}, {"order", "43"}, {"n", "1"}};
        const auto delivery = delivery_from_entry("c", "5-1", fields, 0);
        CHECK(delivery.poisoned());
        CHECK(delivery.message.id == "p");
        CHECK(delivery.raw == R"([["i","p"],["order","42"],["order","43"]])");
        CHECK(delivery.decode_error.find("no 'b' field") != std::string::npos);
    }
    SUBCASE("no i: the id comes from the first stream id") {
        const std::string bytes("\xff\x00", 2);  // the views below point into it
        const std::vector<EntryField> fields{{"x", bytes}};
        const auto delivery = delivery_from_entry("c", "7-0", fields, 0);
        CHECK(delivery.message.id == "stream-7-0");
        CHECK(delivery.raw == R"([["x",{"base64":"/wA="}]])");
        const std::vector<EntryField> moved{{"o", "7-0"}, {"x", bytes}, {"n", "1"}};
        const auto again = delivery_from_entry("c", "9-0", moved, 0);
        CHECK(again.message.id == "stream-7-0");
        CHECK(again.raw == delivery.raw);
        CHECK(again.deliveries == 2);
    }
    SUBCASE("bad bytes alone are kept as they are; with other fields, every field") {
        const std::vector<EntryField> alone{{"i", "a"}, {"b", "{nope"}};
        CHECK(delivery_from_entry("c", "1-0", alone, 0).raw == "{nope");
        const std::vector<EntryField> more{{"i", "a"}, {"b", "{nope"}, {"z", "1"}};
        CHECK(delivery_from_entry("c", "1-0", more, 0).raw == R"([["i","a"],["b","{nope"],["z","1"]])");
    }
    SUBCASE("fields packed in p are read as the entry's own") {
        const std::vector<EntryField> packed{{"i", "w"}, {"p", "F1:x1:12:f22:v2"}, {"n", "3"}};
        const auto delivery = delivery_from_entry("c", "1-0", packed, 0);
        CHECK(delivery.message.id == "w");
        CHECK(delivery.deliveries == 4);
        CHECK(delivery.raw == R"([["x","1"],["f2","v2"]])");
        const std::vector<EntryField> not_packed{{"i", "w"}, {"p", "F9:x"}};
        CHECK(delivery_from_entry("c", "1-0", not_packed, 0).raw == R"([["i","w"],["p","F9:x"]])");
    }
    SUBCASE("no fields at all") {
        const auto delivery = delivery_from_entry("c", "1-0", {}, -5);
        CHECK(delivery.poisoned());
        CHECK(delivery.raw == "[]");
        CHECK(delivery.receipt == "1-0 0 stream-1-0");
    }
}

TEST_CASE("entry: a delivery count is decimal digits (capped), anything else counts 0") {
    CHECK(carried_count("") == 0);
    CHECK(carried_count("12") == 12);
    CHECK(carried_count("abc") == 0);
    CHECK(carried_count("-1") == 0);
    CHECK(carried_count("1e3") == 0);
    CHECK(carried_count("0x10") == 0);
    CHECK(carried_count("99999999999999999999999999") == UINT32_MAX);
    const std::vector<EntryField> fields{{"i", "m"}, {"b", kBytes}, {"n", "4294967295"}};
    CHECK(delivery_from_entry("c", "1-0", fields, 0).deliveries == UINT32_MAX);
}
