// The conformance suite, as an adapter's author runs it: one fixture, one macro, doctest's main.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <failpipe/testing/adapter_conformance.hpp>

#include <failpipe/memory/in_memory_adapter.hpp>

namespace {

struct InstalledMemoryFixture {
    std::shared_ptr<failpipe::ManualClock> clock = std::make_shared<failpipe::ManualClock>();

    std::shared_ptr<failpipe::AdapterInterface> make() {
        failpipe::InMemoryAdapter::Options options;
        options.visibility_timeout = visibility();
        options.clock = clock;
        return std::make_shared<failpipe::InMemoryAdapter>(options);
    }
    failpipe::Seconds visibility() const { return failpipe::Seconds{30.0}; }
    failpipe::Seconds delay() const { return failpipe::Seconds{10.0}; }
    void pass(failpipe::Seconds by) { clock->advance(by + failpipe::Seconds{0.001}); }
    void push_raw(failpipe::AdapterInterface& adapter, const std::string& channel, std::string bytes) {
        dynamic_cast<failpipe::InMemoryAdapter&>(adapter).push_raw(channel, std::move(bytes));
    }
};

}  // namespace

FAILPIPE_ADAPTER_CONFORMANCE(InstalledMemoryFixture, "installed memory")
