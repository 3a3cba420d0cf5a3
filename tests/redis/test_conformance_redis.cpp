// The adapter conformance suite against RedisAdapter on the test server: time passes for real, so
// delays and visibility timeouts are short.
#include <failpipe/testing/adapter_conformance.hpp>

#include "redis_test_support.hpp"

namespace {

struct RedisFixture {
    std::shared_ptr<failpipe::AdapterInterface> make() {
        return failpipe::redis_test::shared_server_adapter(visibility(), failpipe::redis_test::unique_prefix("conf"));
    }
    failpipe::Seconds visibility() const { return failpipe::Seconds{0.5}; }
    // Long enough that a loaded 2-core machine still sees "not due yet" right after the push.
    failpipe::Seconds delay() const { return failpipe::Seconds{0.3}; }
    void pass(failpipe::Seconds by) {
        std::this_thread::sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(by) + std::chrono::milliseconds(30));
    }
    void push_raw(failpipe::AdapterInterface& adapter, const std::string& channel, std::string bytes) {
        dynamic_cast<failpipe::RedisAdapter&>(adapter).push_raw(channel, std::move(bytes));
    }
};

}  // namespace

FAILPIPE_ADAPTER_CONFORMANCE(RedisFixture, "redis")

TEST_CASE("redis adapter declares every capability, with its maxMessageBytes") {
    failpipe::RedisAdapter::Options options;
    options.max_message_bytes = 4096;
    const failpipe::RedisAdapter adapter(options);  // does not connect
    failpipe::AdapterCapabilities expected = failpipe::AdapterCapabilities::all();
    expected.max_message_bytes = 4096;
    CHECK(adapter.capabilities() == expected);
}
