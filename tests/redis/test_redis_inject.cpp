// `failpipe inject` against a live Redis: the messages it pushes fail, in a worker whose handler calls
// apply_injected_fault(), exactly as their kind says (the CLI's own arguments: tests/cli/inject.cmake).
#include <doctest/doctest.h>

#include <failpipe/config.hpp>
#include <failpipe/fault_injection.hpp>
#include <failpipe/worker.hpp>

#include <array>
#include <cstdio>
#include <map>

#include "redis_test_support.hpp"

#ifdef FAILPIPE_CLI
namespace rt = failpipe::redis_test;
using namespace failpipe;

namespace {

int run_cli(const std::string& args) {
    const int status = std::system((std::string(FAILPIPE_CLI) + " " + args + " >/dev/null").c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("redis inject: each kind fails in a handler that calls apply_injected_fault as it says") {
    const std::string prefix = rt::unique_prefix("inject");
    const std::string broker = " --channel jobs --type job --redis " + rt::test_redis_url() + " --prefix " + prefix;
    REQUIRE(run_cli("inject --count 2 --kind transient" + broker) == 0);
    REQUIRE(run_cli("inject --count 3 --kind permanent" + broker) == 0);
    REQUIRE(run_cli("inject --count 1 --kind poison" + broker) == 0);
    REQUIRE(run_cli("inject --count 2 --kind slow --seconds 0.01" + broker) == 0);

    auto adapter = rt::shared_server_adapter(Seconds{30.0}, prefix);
    auto config = parse_config(R"({
        "defaultPipeline": [
            {"type": "dead-letter", "id": "permanent", "on": ["permanent"]},
            {"type": "send-again", "id": "again", "maxAttempts": 1}
        ]
    })");
    Worker worker(adapter, config.make_dispatcher(), config.classifier, {.channels = {"jobs"}, .wait = std::chrono::milliseconds(50)});
    int succeeded = 0;
    worker.on("job", [&](const Message& message, HandlerContext&) {
        apply_injected_fault(message);
        ++succeeded;
    });
    worker.run_until_idle();

    CHECK(succeeded == 2);                            // slow, after sleeping
    CHECK(worker.metrics().snapshot().retried == 2);  // transient, sent again once each
    std::map<std::string, int> dead;                  // "reason errorClass" → count
    for (const auto& message : adapter->browse("jobs:dlq", 0, 100)) {
        const auto& record = message.metadata.at("failpipe-dead-letter");
        ++dead[record.at("reason").get<std::string>() + " " + record.at("errorClass").get<std::string>()];
    }
    CHECK(dead == std::map<std::string, int>{{"failure permanent", 3}, {"failure transient", 2}, {"poison permanent", 1}});
}
#endif
