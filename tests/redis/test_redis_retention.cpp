// Dead-letter retention on Redis: the eviction counter is the broker's (a key under the prefix), so
// it survives the adapter object and the process, and `failpipe stats` shows it.
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include "failpipe/dead_letters.hpp"
#include "failpipe/metadata_keys.hpp"
#include "redis_test_support.hpp"

namespace rt = failpipe::redis_test;
using namespace failpipe;

namespace {

void push_dead_letters(AdapterInterface& adapter, const std::string& channel, int n) {
    for (int i = 0; i < n; ++i) {
        Message message = Message::create("job", i);
        message.id = "x" + std::to_string(i);
        message.metadata[std::string(metadata_keys::dead_letter)] = {{"reason", "failure"}, {"channel", "orders"}};
        adapter.push(channel, std::move(message));
    }
}

#ifdef FAILPIPE_CLI
// Runs the failpipe CLI with @p args and returns what it printed on stdout.
std::string run_cli(const std::string& args) {
    std::string out;
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen((std::string(FAILPIPE_CLI) + " " + args).c_str(), "r"), ::pclose);
    REQUIRE(pipe);
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe.get()) != nullptr) out += buffer.data();
    return out;
}
#endif

}  // namespace

TEST_CASE("redis retention: the eviction count survives a new adapter and is what failpipe stats shows") {
    const std::string prefix = rt::unique_prefix("retention");
    {
        auto adapter = rt::shared_server_adapter(Seconds{30.0}, prefix);
        push_dead_letters(*adapter, "orders:dlq", 10);
        const RetentionResult result = DeadLetters(adapter).enforce_retention("orders", RetentionPolicy{4, std::nullopt});
        CHECK(result.removed == 6);
        CHECK(adapter->evicted("orders:dlq") == 6);
    }
    // Another adapter object (as another process would be) reads the broker's counter.
    auto again = rt::shared_server_adapter(Seconds{30.0}, prefix);
    CHECK(again->evicted("orders:dlq") == 6);
    CHECK(again->depth("orders:dlq").ready == 4);
    // Where docs/cli.md says it is.
    CHECK(rt::raw_command(rt::port_of(rt::test_redis_url()), {"INCRBY", "{" + prefix + "}:evicted:orders:dlq", "0"}) == ":6");
    // A second pass within the cap evicts nothing and adds nothing.
    CHECK(DeadLetters(again).enforce_retention("orders", RetentionPolicy{4, std::nullopt}).evicted.empty());
    CHECK(again->evicted("orders:dlq") == 6);
#ifdef FAILPIPE_CLI
    const std::string broker = "--redis " + rt::test_redis_url() + " --prefix " + prefix;
    CHECK(run_cli("stats --channel orders --format json " + broker) ==
          "{\"channels\":[{\"channel\":\"orders\",\"ready\":0,\"delayed\":0,\"reserved\":0,\"dead\":4,\"parked\":0,"
          "\"evicted\":6}]}\n");
#endif
}
