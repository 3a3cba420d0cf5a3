// InMemoryAdapter: the broker contract of adapter.hpp, observed from outside.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "failpipe/error.hpp"
#include "failpipe/memory/in_memory_adapter.hpp"

using failpipe::ChannelDepth;
using failpipe::Delivery;
using failpipe::InMemoryAdapter;
using failpipe::ManualClock;
using failpipe::Message;
using failpipe::MessageState;
using failpipe::OutgoingMessage;
using failpipe::Seconds;
using failpipe::Settlement;
using namespace std::chrono_literals;

namespace {

InMemoryAdapter::Options manual_options(const std::shared_ptr<ManualClock>& clock, double visibility_timeout = 30.0) {
    InMemoryAdapter::Options options;
    options.visibility_timeout = Seconds{visibility_timeout};
    options.clock = clock;
    return options;
}

/// Real time that never steps: the system clock may be adjusted while a test waits on it.
class MonotonicClock final : public failpipe::Clock {
public:
    failpipe::TimePoint now() const override {
        return failpipe::TimePoint{std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::steady_clock::now().time_since_epoch())};
    }
};

/// An adapter on a manual clock: hours of delays run in microseconds.
struct ManualBroker {
    std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
    InMemoryAdapter adapter{manual_options(clock)};
};

Message message(std::string id, nlohmann::json data = nullptr) {
    Message m = Message::create("work", std::move(data));
    m.id = std::move(id);
    return m;
}

std::vector<std::string> ids_of(const std::vector<Delivery>& deliveries) {
    std::vector<std::string> ids;
    for (const auto& d : deliveries) ids.push_back(d.message.id);
    return ids;
}

std::vector<std::string> ids_of(const std::vector<Message>& messages) {
    std::vector<std::string> ids;
    for (const auto& m : messages) ids.push_back(m.id);
    return ids;
}

Settlement settlement_of(std::vector<OutgoingMessage> pushes) {
    Settlement s;
    s.pushes = std::move(pushes);
    return s;
}

/// Reserves up to @p max due messages and acknowledges them at once; returns their ids.
std::vector<std::string> drain(InMemoryAdapter& adapter, const std::vector<std::string>& channels, std::size_t max) {
    std::vector<std::string> ids;
    for (auto& d : adapter.reserve(channels, max, 0ms)) {
        ids.push_back(d.message.id);
        adapter.settle(d, Settlement{});
    }
    return ids;
}

bool same_depth(const ChannelDepth& d, std::size_t ready, std::size_t delayed, std::size_t reserved) {
    return d.ready == ready && d.delayed == delayed && d.reserved == reserved;
}

const std::vector<std::string> kOrders{"orders"};

}  // namespace

TEST_CASE("memory adapter: FIFO within a channel, ids assigned at push") {
    ManualBroker b;
    const std::string given = b.adapter.push("orders", message("given-id"));
    CHECK(given == "given-id");
    std::vector<std::string> pushed{given};
    for (int i = 0; i < 4; ++i) pushed.push_back(b.adapter.push("orders", Message::create("work", i)));
    const std::set<std::string> unique(pushed.begin(), pushed.end());
    CHECK(unique.size() == 5);
    CHECK(unique.count("") == 0);

    auto first = b.adapter.reserve(kOrders, 3, 0ms);
    REQUIRE(first.size() == 3);
    CHECK(ids_of(first) == std::vector<std::string>(pushed.begin(), pushed.begin() + 3));
    CHECK(first[1].message.data == 0);
    for (const auto& d : first) {
        CHECK(d.channel == "orders");
        CHECK(d.deliveries == 1);
        CHECK_FALSE(d.receipt.empty());
        CHECK_FALSE(d.poisoned());
    }
    CHECK(first[0].receipt != first[1].receipt);

    auto rest = b.adapter.reserve(kOrders, 64, 0ms);
    CHECK(ids_of(rest) == std::vector<std::string>(pushed.begin() + 3, pushed.end()));
    CHECK(b.adapter.reserve(kOrders, 64, 0ms).empty());
}

TEST_CASE("memory adapter: delays are honoured against a manual clock, in due order") {
    ManualBroker b;
    b.adapter.push("orders", message("late"), Seconds{3600.0});
    b.adapter.push("orders", message("soon-1"), Seconds{5.0});
    b.adapter.push("orders", message("soon-2"), Seconds{5.0});
    b.adapter.push("orders", message("now"));

    // A delayed message does not hold back the ones behind it.
    CHECK(drain(b.adapter, kOrders, 10) == std::vector<std::string>{"now"});
    CHECK(b.adapter.status("soon-1").state == MessageState::delayed);

    b.clock->advance(Seconds{4.999});
    CHECK(drain(b.adapter, kOrders, 10).empty());
    b.clock->advance(Seconds{0.001});
    CHECK(b.adapter.status("soon-1").state == MessageState::ready);
    CHECK(drain(b.adapter, kOrders, 10) == std::vector<std::string>{"soon-1", "soon-2"});

    b.clock->advance(Seconds{3500.0});
    CHECK(drain(b.adapter, kOrders, 10).empty());
    b.clock->advance(Seconds{100.0});
    CHECK(drain(b.adapter, kOrders, 10) == std::vector<std::string>{"late"});

    SUBCASE("a message that fell due earlier goes before one pushed ready later") {
        b.adapter.push("orders", message("was-delayed"), Seconds{1.0});
        b.clock->advance(Seconds{2.0});
        b.adapter.push("orders", message("pushed-after"));
        CHECK(drain(b.adapter, kOrders, 10) == std::vector<std::string>{"was-delayed", "pushed-after"});
    }
    SUBCASE("many delayed messages, some removed, come out in due order, ties in push order") {
        struct Expected {
            int due;
            int order;
            std::string id;
        };
        std::vector<Expected> expected;
        std::vector<std::string> removed;
        std::uint32_t lcg = 12345;
        for (int i = 0; i < 300; ++i) {
            lcg = lcg * 1664525u + 1013904223u;
            const int due = static_cast<int>((lcg >> 16) % 50);  // many ties on purpose
            const std::string id = "d-" + std::to_string(i);
            b.adapter.push("orders", message(id), Seconds{1.0 + due});
            (i % 7 == 0 ? removed.push_back(id) : expected.push_back({due, i, id}));
        }
        CHECK(b.adapter.remove("orders", removed) == removed.size());
        std::stable_sort(expected.begin(), expected.end(), [](const Expected& x, const Expected& y) { return x.due < y.due; });
        std::vector<std::string> want;
        for (const auto& e : expected) want.push_back(e.id);
        CHECK(ids_of(b.adapter.browse("orders", 0, 1000)) == want);

        std::vector<std::string> got;
        std::size_t fillers = 0;
        for (int step = 0; step < 60 && got.size() < want.size(); ++step) {
            b.clock->advance(Seconds{1.0});
            // Pushes between the steps reuse the places the drained messages left.
            b.adapter.push("other", message("filler-" + std::to_string(step)), Seconds{1000.0});
            ++fillers;
            for (auto& id : drain(b.adapter, kOrders, 1000)) got.push_back(std::move(id));
        }
        CHECK(got == want);
        CHECK(same_depth(b.adapter.depth("other"), 0, fillers, 0));
    }
    SUBCASE("waiting on a manual clock makes nothing due: the reserve gives up after its wait") {
        b.adapter.push("orders", message("tomorrow"), Seconds{86400.0});
        const auto start = std::chrono::steady_clock::now();
        CHECK(b.adapter.reserve(kOrders, 10, 30ms).empty());
        const auto took = std::chrono::steady_clock::now() - start;
        CHECK(took >= 25ms);
        CHECK(took < 2s);
    }
}

TEST_CASE("memory adapter: earlier channels are served first") {
    ManualBroker b;
    b.adapter.push("low", message("low-1"));
    b.adapter.push("low", message("low-2"));
    b.adapter.push("high", message("high-1"));
    b.adapter.push("high", message("high-2"));

    auto batch = b.adapter.reserve({"high", "low"}, 3, 0ms);
    CHECK(ids_of(batch) == std::vector<std::string>{"high-1", "high-2", "low-1"});
    CHECK(batch[0].channel == "high");
    CHECK(batch[2].channel == "low");

    b.adapter.push("high", message("high-3"));
    CHECK(ids_of(b.adapter.reserve({"high", "low"}, 1, 0ms)) == std::vector<std::string>{"high-3"});
    CHECK(ids_of(b.adapter.reserve({"absent", "high", "low"}, 5, 0ms)) == std::vector<std::string>{"low-2"});
}

TEST_CASE("memory adapter: the visibility timeout gives a delivery back and keeps its count") {
    ManualBroker b;
    b.adapter.push("orders", message("m"));
    auto first = b.adapter.reserve(kOrders, 1, 0ms);
    REQUIRE(first.size() == 1);

    b.clock->advance(Seconds{29.9});
    CHECK(b.adapter.reclaim() == 0);
    CHECK(b.adapter.reserve(kOrders, 1, 0ms).empty());
    CHECK(b.adapter.status("m").state == MessageState::reserved);
    CHECK(b.adapter.status("m").channel == "orders");

    b.clock->advance(Seconds{0.1});
    SUBCASE("by reclaim()") {
        CHECK(b.adapter.reclaim() == 1);
        CHECK(b.adapter.reclaim() == 0);
        CHECK(b.adapter.status("m").state == MessageState::ready);
        CHECK(same_depth(b.adapter.depth("orders"), 1, 0, 0));
    }
    SUBCASE("by reserve() on its own") {
    }
    auto second = b.adapter.reserve(kOrders, 1, 0ms);
    REQUIRE(second.size() == 1);
    CHECK(second[0].message.id == "m");
    CHECK(second[0].deliveries == 2);
    CHECK(second[0].receipt != first[0].receipt);

    // The first worker comes back too late: its settle must not acknowledge the second delivery.
    CHECK_THROWS_AS(b.adapter.settle(first[0], Settlement{}), failpipe::StaleDeliveryError);
    CHECK(b.adapter.status("m").state == MessageState::reserved);
    b.adapter.settle(second[0], Settlement{});
    CHECK(b.adapter.status("m").state == MessageState::not_found);
    CHECK(same_depth(b.adapter.depth("orders"), 0, 0, 0));

    // A third worker that also dies: the count keeps growing, so a worker can spot a killer message.
    b.adapter.push("orders", message("killer"));
    for (std::uint32_t expected = 1; expected <= 3; ++expected) {
        auto d = b.adapter.reserve(kOrders, 1, 0ms);
        REQUIRE(d.size() == 1);
        CHECK(d[0].deliveries == expected);
        b.clock->advance(Seconds{30.0});
    }
}

TEST_CASE("memory adapter: settle acknowledges and applies every push in one step") {
    ManualBroker b;
    b.adapter.push("orders", message("m", {{"n", 1}}));
    auto d = b.adapter.reserve(kOrders, 1, 0ms);
    REQUIRE(d.size() == 1);

    Message retry = d[0].message;
    retry.metadata["attempt"] = 2;
    Message copy = d[0].message;
    copy.id = "m-copy";
    Message follow_up = Message::create("audit-entry", "done");  // no id: assigned on settle
    b.adapter.settle(d[0], settlement_of({{"orders", retry, Seconds{60.0}},
                                          {"orders:dlq", copy, Seconds{0.0}},
                                          {"audit", follow_up, Seconds{0.0}}}));

    CHECK(same_depth(b.adapter.depth("orders"), 0, 1, 0));
    CHECK(same_depth(b.adapter.depth("orders:dlq"), 1, 0, 0));
    CHECK(same_depth(b.adapter.depth("audit"), 1, 0, 0));
    auto audit = b.adapter.browse("audit", 0, 10);
    REQUIRE(audit.size() == 1);
    CHECK_FALSE(audit[0].id.empty());
    CHECK(audit[0].handler == "audit-entry");
    CHECK(b.adapter.browse("orders:dlq", 0, 10).at(0).data == nlohmann::json{{"n", 1}});

    b.clock->advance(Seconds{60.0});
    auto again = b.adapter.reserve(kOrders, 1, 0ms);
    REQUIRE(again.size() == 1);
    CHECK(again[0].message.id == "m");
    CHECK(again[0].message.metadata["attempt"] == 2);
    CHECK(again[0].deliveries == 1);  // a new push, not a redelivery

    SUBCASE("a settlement with a bad push is refused whole: nothing acknowledged, nothing pushed, nothing moved") {
        Settlement bad = settlement_of({{"audit", Message::create("x", "payload"), Seconds{0.0}},
                                        {"", Message::create("y"), Seconds{0.0}}});
        CHECK_THROWS_AS(b.adapter.settle(again[0], std::move(bad)), failpipe::InvalidArgumentError);
        CHECK(bad.pushes.size() == 2);
        CHECK(bad.pushes[0].message.data == "payload");
        CHECK(bad.pushes[0].message.id.empty());
        CHECK(b.adapter.status("m").state == MessageState::reserved);
        CHECK(same_depth(b.adapter.depth("audit"), 1, 0, 0));
        b.adapter.settle(again[0], Settlement{});
        CHECK(b.adapter.status("m").state == MessageState::not_found);
    }
    SUBCASE("an observer never sees a moved message missing") {
        b.adapter.settle(again[0], Settlement{});
        constexpr int kCount = 2000;
        std::vector<std::string> ids;
        for (int i = 0; i < kCount; ++i) ids.push_back(b.adapter.push("work", message("w-" + std::to_string(i))));
        std::atomic<int> current{0};
        std::atomic<bool> done{false};
        std::atomic<int> missing{0};
        std::thread observer([&] {
            const auto give_up = std::chrono::steady_clock::now() + 10s;
            while (!done.load() && std::chrono::steady_clock::now() < give_up) {
                const int i = current.load();
                if (b.adapter.status(ids[static_cast<std::size_t>(i)]).state == MessageState::not_found) ++missing;
            }
        });
        const auto give_up = std::chrono::steady_clock::now() + 10s;
        for (int i = 0; i < kCount && std::chrono::steady_clock::now() < give_up; ++i) {
            current.store(i);
            auto w = b.adapter.reserve({"work"}, 1, 0ms);
            REQUIRE(w.size() == 1);
            b.adapter.settle(w[0], settlement_of({{"work:dlq", w[0].message, Seconds{0.0}}}));
        }
        done.store(true);
        observer.join();
        CHECK(missing.load() == 0);
        CHECK(same_depth(b.adapter.depth("work"), 0, 0, 0));
        CHECK(same_depth(b.adapter.depth("work:dlq"), kCount, 0, 0));
    }
}

TEST_CASE("memory adapter: a stale settle or release throws and changes nothing") {
    ManualBroker b;
    b.adapter.push("orders", message("m"));
    auto stale = b.adapter.reserve(kOrders, 1, 0ms);
    REQUIRE(stale.size() == 1);
    b.clock->advance(Seconds{31.0});
    REQUIRE(b.adapter.reclaim() == 1);

    Settlement late = settlement_of({{"elsewhere", message("m"), Seconds{0.0}}});
    CHECK_THROWS_WITH_AS(b.adapter.settle(stale[0], std::move(late)), doctest::Contains("no longer reserved"),
                         failpipe::StaleDeliveryError);
    CHECK(late.pushes.size() == 1);  // the caller's settlement is intact, so it may be sent again
    CHECK(late.pushes[0].message.id == "m");
    CHECK_THROWS_AS(b.adapter.release(stale[0]), failpipe::StaleDeliveryError);

    // Not lost: it is back in its channel. Not duplicated: the push of the stale settle did not happen.
    CHECK(same_depth(b.adapter.depth("orders"), 1, 0, 0));
    CHECK(same_depth(b.adapter.depth("elsewhere"), 0, 0, 0));
    CHECK(b.adapter.channels() == std::vector<std::string>{"orders"});

    auto fresh = b.adapter.reserve(kOrders, 1, 0ms);
    REQUIRE(fresh.size() == 1);
    CHECK(fresh[0].message.id == "m");
    b.adapter.settle(fresh[0], Settlement{});
    CHECK(b.adapter.reserve(kOrders, 1, 0ms).empty());

    // Settling twice is stale too, and so is a receipt this adapter never gave out.
    CHECK_THROWS_AS(b.adapter.settle(fresh[0], Settlement{}), failpipe::StaleDeliveryError);
    Delivery forged = fresh[0];
    for (const char* receipt : {"", "garbage", "0.0", "ffffff.1", "0.ffffffffffffffffff"}) {
        forged.receipt = receipt;
        CHECK_THROWS_AS(b.adapter.settle(forged, Settlement{}), failpipe::StaleDeliveryError);
    }
    CHECK(same_depth(b.adapter.depth("orders"), 0, 0, 0));
}

TEST_CASE("memory adapter: release gives a delivery back without counting it") {
    ManualBroker b;
    b.adapter.push("orders", message("m"));
    b.adapter.push("orders", message("n"));
    auto d = b.adapter.reserve(kOrders, 1, 0ms);
    REQUIRE(d.size() == 1);
    CHECK(d[0].deliveries == 1);

    b.adapter.release(d[0]);
    CHECK_THROWS_AS(b.adapter.release(d[0]), failpipe::StaleDeliveryError);
    auto both = b.adapter.reserve(kOrders, 2, 0ms);
    CHECK(ids_of(both) == std::vector<std::string>{"n", "m"});
    CHECK(both[1].deliveries == 1);

    b.adapter.release(both[1], Seconds{5.0});
    CHECK(b.adapter.status("m").state == MessageState::delayed);
    CHECK(b.adapter.reserve(kOrders, 1, 0ms).empty());
    b.clock->advance(Seconds{5.0});
    auto back = b.adapter.reserve(kOrders, 1, 0ms);
    REQUIRE(back.size() == 1);
    CHECK(back[0].message.id == "m");
    CHECK(back[0].deliveries == 1);

    // A released delivery no longer times out.
    b.adapter.settle(both[0], Settlement{});
    b.adapter.release(back[0]);
    b.clock->advance(Seconds{100.0});
    CHECK(b.adapter.reclaim() == 0);
    CHECK(same_depth(b.adapter.depth("orders"), 1, 0, 0));
}

TEST_CASE("memory adapter: depth, browse, remove, status and channels") {
    ManualBroker b;
    for (const char* id : {"a", "b", "c"}) b.adapter.push("box", message(id));
    b.adapter.push("box", message("d"), Seconds{20.0});
    b.adapter.push("box", message("e"), Seconds{10.0});
    REQUIRE(ids_of(b.adapter.reserve({"box"}, 1, 0ms)) == std::vector<std::string>{"a"});

    CHECK(same_depth(b.adapter.depth("box"), 2, 2, 1));
    CHECK(b.adapter.depth("box").total() == 5);
    CHECK(same_depth(b.adapter.depth("nowhere"), 0, 0, 0));

    // Ready first (FIFO), then delayed by due time; reserved messages are not listed.
    CHECK(ids_of(b.adapter.browse("box", 0, 10)) == std::vector<std::string>{"b", "c", "e", "d"});
    CHECK(ids_of(b.adapter.browse("box", 1, 2)) == std::vector<std::string>{"c", "e"});
    CHECK(ids_of(b.adapter.browse("box", 3, 10)) == std::vector<std::string>{"d"});
    CHECK(b.adapter.browse("box", 4, 10).empty());
    CHECK(b.adapter.browse("box", 0, 0).empty());
    CHECK(b.adapter.browse("nowhere", 0, 10).empty());

    CHECK(b.adapter.status("a").state == MessageState::reserved);
    CHECK(b.adapter.status("b").state == MessageState::ready);
    CHECK(b.adapter.status("b").channel == "box");
    CHECK(b.adapter.status("e").state == MessageState::delayed);
    CHECK(b.adapter.status("zzz").state == MessageState::not_found);
    CHECK(b.adapter.status("zzz").channel.empty());

    // Only waiting messages go; a reserved one stays with its worker.
    CHECK(b.adapter.remove("box", {"c", "d", "a", "zzz"}) == 2);
    CHECK(b.adapter.remove("box", {"c"}) == 0);
    CHECK(b.adapter.remove("nowhere", {"b"}) == 0);
    CHECK(same_depth(b.adapter.depth("box"), 1, 1, 1));
    CHECK(b.adapter.status("c").state == MessageState::not_found);
    CHECK(b.adapter.status("a").state == MessageState::reserved);
    CHECK(ids_of(b.adapter.browse("box", 0, 10)) == std::vector<std::string>{"b", "e"});

    b.clock->advance(Seconds{10.0});
    CHECK(b.adapter.status("e").state == MessageState::ready);
    CHECK(same_depth(b.adapter.depth("box"), 2, 0, 1));

    b.adapter.push("zeta", message("z"));
    b.adapter.push("alpha", message("x"));
    b.adapter.reserve({"never-pushed"}, 1, 0ms);
    CHECK(b.adapter.channels() == std::vector<std::string>{"alpha", "box", "zeta"});
    // A channel that held messages is still listed once drained.
    auto z = b.adapter.reserve({"zeta"}, 1, 0ms);
    REQUIRE(z.size() == 1);
    b.adapter.settle(z[0], Settlement{});
    CHECK(b.adapter.channels() == std::vector<std::string>{"alpha", "box", "zeta"});
}

TEST_CASE("memory adapter: push_batch pushes every message and returns the ids in order") {
    ManualBroker b;
    auto ids = b.adapter.push_batch({{"one", message("keep"), Seconds{0.0}},
                                     {"two", Message::create("work"), Seconds{0.0}},
                                     {"one", Message::create("work"), Seconds{7.0}}});
    REQUIRE(ids.size() == 3);
    CHECK(ids[0] == "keep");
    CHECK_FALSE(ids[1].empty());
    CHECK(b.adapter.status(ids[1]).channel == "two");
    CHECK(b.adapter.status(ids[2]).state == MessageState::delayed);
    CHECK(b.adapter.push_batch({}).empty());
    CHECK_THROWS_AS(b.adapter.push_batch({{"one", message("p"), Seconds{0.0}}, {"one", message("q"), Seconds{-1.0}}}),
                    failpipe::InvalidArgumentError);
    CHECK(b.adapter.status("p").state == MessageState::not_found);
}

TEST_CASE("memory adapter: undecodable bytes come out as poison, decodable ones as messages") {
    ManualBroker b;
    const std::string garbage = "{not json";
    const std::string bad_handler = R"({"id":"p-1","handler":42})";
    Message good = message("g-1", {{"k", "v"}});
    good.metadata["trace"] = "t";
    b.adapter.push_raw("in", garbage);
    b.adapter.push_raw("in", bad_handler);
    b.adapter.push_raw("in", failpipe::encode_message(good));

    auto d = b.adapter.reserve({"in"}, 10, 0ms);
    REQUIRE(d.size() == 3);
    CHECK(d[0].poisoned());
    CHECK(d[0].raw == garbage);
    CHECK_FALSE(d[0].decode_error.empty());
    CHECK_FALSE(d[0].message.id.empty());  // the adapter's own id, so the dead letter can be traced
    CHECK(d[1].poisoned());
    CHECK(d[1].raw == bad_handler);
    CHECK(d[1].decode_error.find("handler") != std::string::npos);
    CHECK(d[1].message.id == "p-1");
    CHECK_FALSE(d[2].poisoned());
    CHECK(d[2].raw.empty());
    CHECK(d[2].message.id == "g-1");
    CHECK(d[2].message.data == nlohmann::json{{"k", "v"}});
    CHECK(d[2].message.metadata["trace"] == "t");
    CHECK(b.adapter.status(d[0].message.id).state == MessageState::reserved);

    // Released poison goes back as the same bytes; settled poison is gone.
    b.adapter.release(d[0]);
    auto again = b.adapter.reserve({"in"}, 1, 0ms);
    REQUIRE(again.size() == 1);
    CHECK(again[0].raw == garbage);
    CHECK(again[0].message.id == d[0].message.id);
    CHECK(again[0].deliveries == 1);
    auto listed = b.adapter.browse("in", 0, 10);
    CHECK(listed.empty());
    b.adapter.release(again[0]);
    listed = b.adapter.browse("in", 0, 10);
    REQUIRE(listed.size() == 1);
    CHECK(listed[0].id == d[0].message.id);
    CHECK(listed[0].metadata.contains("failpipe-decode-error"));
    CHECK(listed[0].data.is_binary());
    CHECK_NOTHROW((void)listed[0].data.dump());
    CHECK(b.adapter.remove("in", {d[0].message.id}) == 1);

    for (const auto& delivery : {d[1], d[2]}) b.adapter.settle(delivery, Settlement{});
    CHECK(same_depth(b.adapter.depth("in"), 0, 0, 0));
}

TEST_CASE("memory adapter: bad arguments are refused with a clear error") {
    ManualBroker b;
    using failpipe::InvalidArgumentError;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();

    CHECK_THROWS_WITH_AS(b.adapter.push("", message("m")), doctest::Contains("channel name is empty"),
                         InvalidArgumentError);
    CHECK_THROWS_WITH_AS(b.adapter.push("orders", message("m"), Seconds{-1.0}), doctest::Contains("delay"),
                         InvalidArgumentError);
    CHECK_THROWS_AS(b.adapter.push("orders", message("m"), Seconds{nan}), InvalidArgumentError);
    CHECK_THROWS_AS(b.adapter.push("orders", message("m"), Seconds{inf}), InvalidArgumentError);
    CHECK_THROWS_AS(b.adapter.push_raw("", "x"), InvalidArgumentError);
    CHECK_THROWS_WITH_AS(b.adapter.reserve({}, 1, 0ms), doctest::Contains("no channels"), InvalidArgumentError);
    CHECK_THROWS_AS(b.adapter.reserve({"orders", ""}, 1, 0ms), InvalidArgumentError);
    CHECK_THROWS_WITH_AS(b.adapter.reserve(kOrders, 0, 0ms), doctest::Contains("max_messages"), InvalidArgumentError);
    CHECK_THROWS_AS(b.adapter.reserve(kOrders, 1, -1ms), InvalidArgumentError);
    CHECK_THROWS_AS(b.adapter.depth(""), InvalidArgumentError);
    CHECK_THROWS_AS(b.adapter.browse("", 0, 1), InvalidArgumentError);
    CHECK_THROWS_AS(b.adapter.remove("", {"m"}), InvalidArgumentError);
    CHECK(b.adapter.channels().empty());  // nothing was stored by the refused calls

    b.adapter.push("orders", message("m"));
    auto d = b.adapter.reserve(kOrders, 1, 0ms);
    REQUIRE(d.size() == 1);
    CHECK_THROWS_AS(b.adapter.release(d[0], Seconds{-0.5}), InvalidArgumentError);
    CHECK_THROWS_AS(b.adapter.settle(d[0], settlement_of({{"orders", message("r"), Seconds{nan}}})),
                    InvalidArgumentError);
    CHECK(b.adapter.status("m").state == MessageState::reserved);
    b.adapter.settle(d[0], Settlement{});

    // A delay beyond the clock's range means "not in this lifetime", not an overflow.
    b.adapter.push("orders", message("far"), Seconds{1e300});
    CHECK(b.adapter.status("far").state == MessageState::delayed);
    b.clock->advance(Seconds{3.0e9});
    CHECK(b.adapter.reserve(kOrders, 1, 0ms).empty());

    auto clock = std::make_shared<ManualClock>();
    CHECK_THROWS_WITH_AS(InMemoryAdapter(manual_options(clock, 0.0)), doctest::Contains("visibility_timeout"),
                         InvalidArgumentError);
    CHECK_THROWS_AS(InMemoryAdapter(manual_options(clock, -1.0)), InvalidArgumentError);
    CHECK_THROWS_AS(InMemoryAdapter(manual_options(clock, nan)), InvalidArgumentError);
}

TEST_CASE("memory adapter: a waiting reserve wakes on a push and on a due time, and gives up after its wait") {
    InMemoryAdapter::Options options;
    options.clock = std::make_shared<MonotonicClock>();  // real time: this test is about real waiting
    InMemoryAdapter adapter(options);

    auto start = std::chrono::steady_clock::now();
    CHECK(adapter.reserve(kOrders, 1, 40ms).empty());
    auto took = std::chrono::steady_clock::now() - start;
    CHECK(took >= 35ms);
    CHECK(took < 2s);

    std::thread producer([&adapter] {
        std::this_thread::sleep_for(20ms);
        adapter.push("orders", message("pushed"));
    });
    start = std::chrono::steady_clock::now();
    auto d = adapter.reserve(kOrders, 1, 5000ms);
    took = std::chrono::steady_clock::now() - start;
    producer.join();
    REQUIRE(d.size() == 1);
    CHECK(d[0].message.id == "pushed");
    CHECK(took < 2s);

    adapter.push("orders", message("delayed"), Seconds{0.05});
    start = std::chrono::steady_clock::now();
    d = adapter.reserve(kOrders, 1, 5000ms);
    took = std::chrono::steady_clock::now() - start;
    REQUIRE(d.size() == 1);
    CHECK(d[0].message.id == "delayed");
    CHECK(took >= 40ms);
    CHECK(took < 2s);
}

TEST_CASE("memory adapter: concurrent workers handle every message exactly once") {
    // 10,000 messages are pushed while 4 workers consume; settling each pushes a follow-up in the
    // same step, so 20,000 deliveries in all, each of which must be handled exactly once.
    constexpr int kFirst = 10000;
    constexpr int kTotal = 2 * kFirst;
    constexpr int kWorkers = 4;
    InMemoryAdapter adapter;
    std::atomic<int> handled{0};
    std::atomic<int> errors{0};
    std::vector<std::vector<std::string>> seen(kWorkers);
    const auto give_up = std::chrono::steady_clock::now() + 20s;

    std::thread producer([&] {
        for (int i = 0; i < kFirst && std::chrono::steady_clock::now() < give_up; ++i) {
            adapter.push("jobs", Message::create("first", i));
        }
    });
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; ++w) {
        workers.emplace_back([&, w] {
            while (handled.load() < kTotal && std::chrono::steady_clock::now() < give_up) {
                try {
                    for (auto& d : adapter.reserve({"jobs"}, 16, 5ms)) {
                        seen[static_cast<std::size_t>(w)].push_back(d.message.id);
                        Settlement s;
                        if (d.message.handler == "first") s.pushes.push_back({"jobs", Message::create("second"), Seconds{0.0}});
                        adapter.settle(d, std::move(s));
                        ++handled;
                    }
                } catch (const std::exception&) {
                    ++errors;
                }
            }
        });
    }
    producer.join();
    for (auto& t : workers) t.join();

    CHECK(errors.load() == 0);
    CHECK(handled.load() == kTotal);
    std::set<std::string> unique;
    std::size_t total = 0;
    for (const auto& ids : seen) {
        total += ids.size();
        unique.insert(ids.begin(), ids.end());
    }
    CHECK(total == static_cast<std::size_t>(kTotal));
    CHECK(unique.size() == static_cast<std::size_t>(kTotal));
    CHECK(adapter.depth("jobs").total() == 0);
}

TEST_CASE("memory adapter: moves back and forth while workers consume: each message handled exactly once") {
    // Dead letters are moved to the work channel in chunks while another thread moves some of the
    // same ids back and 3 workers consume: every message must be handled once, none lost.
    constexpr int kCount = 3000;
    InMemoryAdapter adapter;
    std::vector<std::string> ids;
    std::vector<OutgoingMessage> batch;
    for (int i = 0; i < kCount; ++i) {
        ids.push_back("dl-" + std::to_string(i));
        batch.push_back(OutgoingMessage{"dlq", message(ids.back(), i), Seconds{0.0}});
    }
    adapter.push_batch(std::move(batch));
    std::atomic<int> handled{0};
    std::atomic<int> errors{0};
    std::vector<std::vector<std::string>> seen(3);
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    auto chunk = [&](std::size_t begin) {
        return std::vector<std::string>(ids.begin() + static_cast<std::ptrdiff_t>(begin),
                                        ids.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(begin + 100, ids.size())));
    };
    std::thread mover([&] {
        while (handled.load() < kCount && std::chrono::steady_clock::now() < give_up) {
            for (std::size_t begin = 0; begin < ids.size(); begin += 100) {
                const auto result = adapter.move("dlq", "work", chunk(begin), [](Message& m) { m.metadata["replays"] = 1; });
                if (result.moved.size() + result.skipped.size() != chunk(begin).size()) ++errors;
            }
        }
    });
    std::thread back([&] {
        for (int round = 0; round < 200 && std::chrono::steady_clock::now() < give_up; ++round) {
            adapter.move("work", "dlq", chunk(static_cast<std::size_t>(round % 30) * 100));
        }
    });
    std::vector<std::thread> workers;
    for (std::size_t w = 0; w < seen.size(); ++w) {
        workers.emplace_back([&, w] {
            while (handled.load() < kCount && std::chrono::steady_clock::now() < give_up) {
                for (auto& d : adapter.reserve({"work"}, 8, 2ms)) {
                    seen[w].push_back(d.message.id);
                    adapter.settle(d, Settlement{});
                    ++handled;
                }
            }
        });
    }
    mover.join();
    back.join();
    for (auto& t : workers) t.join();
    CHECK(errors.load() == 0);
    CHECK(handled.load() == kCount);
    std::set<std::string> unique;
    std::size_t total = 0;
    for (const auto& got : seen) {
        total += got.size();
        unique.insert(got.begin(), got.end());
    }
    CHECK(total == static_cast<std::size_t>(kCount));
    CHECK(unique.size() == static_cast<std::size_t>(kCount));
    CHECK(adapter.depth("dlq").total() == 0);
    CHECK(adapter.depth("work").total() == 0);
}

TEST_CASE("memory adapter: move of raw bytes that decode is rewritten like any message, and its delay follows the manual clock") {
    ManualBroker broker;
    broker.adapter.push_raw("dlq", R"({"id":"raw-1","handler":"work","data":5,"metadata":{"a":1}})");
    const auto result = broker.adapter.move("dlq", "work", {"raw-1"}, [](Message& m) { m.metadata["a"] = 2; }, Seconds{3600.0});
    CHECK(result.moved == std::vector<std::string>{"raw-1"});
    CHECK(same_depth(broker.adapter.depth("work"), 0, 1, 0));
    broker.clock->advance(Seconds{3599.0});
    CHECK(broker.adapter.reserve({"work"}, 1, 0ms).empty());
    broker.clock->advance(Seconds{1.0});
    auto got = broker.adapter.reserve({"work"}, 1, 0ms);
    REQUIRE(got.size() == 1);
    CHECK_FALSE(got[0].poisoned());
    CHECK(got[0].message.data == 5);
    CHECK(got[0].message.metadata["a"] == 2);
}

namespace {

Message sized(const std::string& id, std::size_t payload_chars) {
    Message message = Message::create("job", std::string(payload_chars, 'x'));
    message.id = id;
    return message;
}

std::unique_ptr<InMemoryAdapter> limited(std::size_t max_message_bytes) {
    InMemoryAdapter::Options options;
    options.max_message_bytes = max_message_bytes;
    return std::make_unique<InMemoryAdapter>(options);
}

}  // namespace

TEST_CASE("memory adapter: a push bigger than maxMessageBytes is refused with its size, the limit and its id — exactly the limit is accepted") {
    const Message fits = sized("fits", 100);
    const std::size_t limit = failpipe::encode_message(fits).size();
    auto adapter = limited(limit);
    CHECK(adapter->push("c", fits) == "fits");
    try {
        adapter->push("c", sized("over", 101));
        FAIL("a message one byte over the limit was accepted");
    } catch (const failpipe::InvalidArgumentError& e) {
        const std::string what = e.what();
        CHECK(what.find("InMemoryAdapter::push") != std::string::npos);
        CHECK(what.find("\"over\"") != std::string::npos);
        CHECK(what.find(std::to_string(limit + 1) + " bytes, more than maxMessageBytes " + std::to_string(limit)) !=
              std::string::npos);
    }
    CHECK(adapter->depth("c").total() == 1);  // only the one that fits
    CHECK(adapter->status("over").state == MessageState::not_found);
}

TEST_CASE("memory adapter: push_batch with one message over maxMessageBytes stores none of the batch") {
    auto adapter = limited(failpipe::encode_message(sized("a", 100)).size());
    std::vector<OutgoingMessage> batch{{"c", sized("a", 10), Seconds{0.0}},
                                       {"c", sized("b", 5000), Seconds{0.0}},
                                       {"c", sized("d", 10), Seconds{0.0}}};
    CHECK_THROWS_WITH_AS(adapter->push_batch(batch), doctest::Contains("\"b\""), failpipe::InvalidArgumentError);
    CHECK(adapter->depth("c").total() == 0);
}

TEST_CASE("memory adapter: bytes over maxMessageBytes that arrive are handed out as poison with every byte kept") {
    auto adapter = limited(64);
    const std::string bytes = failpipe::encode_message(sized("foreign", 200));
    adapter->push_raw("c", bytes);
    auto got = adapter->reserve({"c"}, 1, 0ms);
    REQUIRE(got.size() == 1);
    CHECK(got[0].poisoned());
    CHECK(got[0].raw == bytes);
    CHECK(got[0].message.id == "foreign");
    CHECK(got[0].decode_error == std::to_string(bytes.size()) + " bytes, more than maxMessageBytes 64");
}
