// The adapter conformance suite against InMemoryAdapter: time passes by moving a ManualClock. Once
// as it is (every capability), once behind a wrapper that offers the broker core only (no delays,
// no inspection): the suite skips what the wrapper does not declare and checks that each undeclared
// operation, and each caller needing one, fails with UnsupportedCapabilityError naming it.
#include <failpipe/testing/adapter_conformance.hpp>

#include "failpipe/memory/in_memory_adapter.hpp"

namespace {

using failpipe::Capability;
using failpipe::Seconds;

struct MemoryFixture {
    std::shared_ptr<failpipe::ManualClock> clock = std::make_shared<failpipe::ManualClock>();

    std::shared_ptr<failpipe::AdapterInterface> make() {
        failpipe::InMemoryAdapter::Options options;
        options.visibility_timeout = visibility();
        options.clock = clock;
        return std::make_shared<failpipe::InMemoryAdapter>(options);
    }
    Seconds visibility() const { return Seconds{30.0}; }
    Seconds delay() const { return Seconds{10.0}; }
    void pass(Seconds by) { clock->advance(by + Seconds{0.001}); }
    void push_raw(failpipe::AdapterInterface& adapter, const std::string& channel, std::string bytes) {
        dynamic_cast<failpipe::InMemoryAdapter&>(adapter).push_raw(channel, std::move(bytes));
    }
};

/// A broker with the core only, as a third broker might start: atomic settles and uncounted
/// releases, no delays, and no inspection (InspectionAdapter's defaults throw).
class CoreOnlyAdapter final : public failpipe::AdapterInterface {
public:
    explicit CoreOnlyAdapter(std::shared_ptr<failpipe::InMemoryAdapter> inner,
                             failpipe::AdapterCapabilities declared = failpipe::AdapterCapabilities::none()
                                                                          .with(Capability::atomic_settle)
                                                                          .with(Capability::uncounted_release))
        : inner_(std::move(inner)), declared_(declared) {}

    failpipe::AdapterCapabilities capabilities() const override { return declared_; }
    std::string push(const std::string& channel, failpipe::Message message, Seconds delay) override {
        no_delay(delay, "CoreOnlyAdapter::push");
        return inner_->push(channel, std::move(message), delay);
    }
    std::vector<std::string> push_batch(std::vector<failpipe::OutgoingMessage> messages) override {
        for (const auto& message : messages) no_delay(message.delay, "CoreOnlyAdapter::push_batch");
        return inner_->push_batch(std::move(messages));
    }
    std::vector<failpipe::Delivery> reserve(const std::vector<std::string>& channels, std::size_t max_messages,
                                            std::chrono::milliseconds wait) override {
        return inner_->reserve(channels, max_messages, wait);
    }
    void settle(const failpipe::Delivery& delivery, failpipe::Settlement&& settlement) override {
        for (const auto& push : settlement.pushes) no_delay(push.delay, "CoreOnlyAdapter::settle");
        inner_->settle(delivery, std::move(settlement));
    }
    void release(const failpipe::Delivery& delivery, Seconds delay) override {
        no_delay(delay, "CoreOnlyAdapter::release");
        inner_->release(delivery, delay);
    }
    std::size_t reclaim() override { return inner_->reclaim(); }
    void push_raw(const std::string& channel, std::string bytes) { inner_->push_raw(channel, std::move(bytes)); }

private:
    static void no_delay(Seconds delay, std::string_view who) {
        // A negative delay is a bad argument, which the inner adapter refuses as such.
        if (delay.count() > 0.0) throw failpipe::UnsupportedCapabilityError(Capability::delayed_delivery, who);
    }
    std::shared_ptr<failpipe::InMemoryAdapter> inner_;
    failpipe::AdapterCapabilities declared_;
};

struct CoreOnlyFixture : MemoryFixture {
    std::shared_ptr<failpipe::AdapterInterface> make() {
        auto inner = std::dynamic_pointer_cast<failpipe::InMemoryAdapter>(MemoryFixture::make());
        return std::make_shared<CoreOnlyAdapter>(std::move(inner));
    }
    void push_raw(failpipe::AdapterInterface& adapter, const std::string& channel, std::string bytes) {
        dynamic_cast<CoreOnlyAdapter&>(adapter).push_raw(channel, std::move(bytes));
    }
};

/// InMemoryAdapter with a message size limit: the suite's max_message_bytes check runs.
struct LimitedFixture : MemoryFixture {
    std::shared_ptr<failpipe::AdapterInterface> make() {
        failpipe::InMemoryAdapter::Options options;
        options.visibility_timeout = visibility();
        options.clock = clock;
        options.max_message_bytes = 200;
        return std::make_shared<failpipe::InMemoryAdapter>(options);
    }
};

}  // namespace

FAILPIPE_ADAPTER_CONFORMANCE(MemoryFixture, "memory")
FAILPIPE_ADAPTER_CONFORMANCE(CoreOnlyFixture, "memory core-only")

TEST_CASE("memory conformance: a declared max_message_bytes is refused by push and push_batch") {
    LimitedFixture f;
    CHECK(f.make()->capabilities().max_message_bytes == 200);
    failpipe::conformance::max_message_bytes_enforced(f);
}

TEST_CASE("adapter capabilities: names, sets, and the error that names a missing one") {
    using failpipe::AdapterCapabilities;
    CHECK(AdapterCapabilities::all().to_string() ==
          "atomic-settle, delayed-delivery, uncounted-release, status, depth, browse, remove, evict, move, channels, browse-cursor");
    CHECK(AdapterCapabilities::none().to_string().empty());
    const auto some = AdapterCapabilities::none().with(Capability::move).with(Capability::depth);
    CHECK(some.has(Capability::move));
    CHECK_FALSE(some.has(Capability::browse));
    CHECK(some.without(Capability::move).without(Capability::depth) == AdapterCapabilities::none());
    CHECK(failpipe::InMemoryAdapter().capabilities() == AdapterCapabilities::all());

    const failpipe::UnsupportedCapabilityError error(Capability::move, "DeadLetters::replay");
    CHECK(error.capability() == Capability::move);
    CHECK(std::string(error.what()) == "DeadLetters::replay needs the adapter capability \"move\", which this adapter "
                                       "does not declare (see docs/adapters.md)");
    CHECK(dynamic_cast<const failpipe::AdapterError*>(&error) != nullptr);
    CHECK_THROWS_AS(failpipe::require_capabilities(some, {Capability::depth, Capability::browse}, "x"),
                    failpipe::UnsupportedCapabilityError);
    CHECK_NOTHROW(failpipe::require_capabilities(some, {Capability::depth}, "x"));
}

TEST_CASE("adapter capabilities: a worker on an adapter without atomic settles warns, and still works") {
    MemoryFixture f;
    auto adapter = std::make_shared<CoreOnlyAdapter>(std::dynamic_pointer_cast<failpipe::InMemoryAdapter>(f.make()),
                                                     failpipe::AdapterCapabilities::none());
    failpipe::conformance::LogCapture log;
    failpipe::Worker worker = failpipe::conformance::make_worker(adapter, {"w"}, 10);
    CHECK(log.text().find("the adapter does not declare \"atomic-settle\"") != std::string::npos);
    int runs = 0;
    worker.on("h", [&](const failpipe::Message&, failpipe::HandlerContext&) { ++runs; });
    adapter->push("w", failpipe::conformance::make_message("h", 1), Seconds{0.0});
    CHECK(worker.run_until_idle(10) == 1);
    CHECK(runs == 1);
}
