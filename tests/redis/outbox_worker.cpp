// A worker process for the outbox crash tests (tests/redis/outbox_test_support.hpp). One adapter with
// two shard groups, "orders" and "payments", and its relay thread off.
//
//   settle: a Worker handles COUNT messages of "orders", each handler pushing a follow-up
//           {"i": <i>} to "payments" (another group: it goes to the outbox of "orders"); once all
//           COUNT follow-ups are in the outbox, it writes READY_FILE and waits to be killed.
//   relay:  one pass of the relay, which kills the process with SIGKILL right after publishing
//           the follow-ups and before acknowledging them in the outbox (the fault point "pushed").
//
// usage: failpipe_redis_outbox_worker settle|relay URL PREFIX VISIBILITY_SECONDS COUNT READY_FILE
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "failpipe/redis/redis_adapter.hpp"
#include "failpipe/worker.hpp"
#include "outbox.hpp"

namespace {

void kill_self_at(std::string_view point) {
    if (point == "pushed") ::raise(SIGKILL);
}

void announce(const std::string& file) {
    {
        std::ofstream(file + ".tmp") << "ready\n";
    }
    std::rename((file + ".tmp").c_str(), file.c_str());
}

std::size_t waiting_in_outbox(failpipe::RedisAdapter& adapter) {
    std::size_t entries = 0;
    for (const auto& lag : adapter.outbox_lag()) entries += lag.entries;
    return entries;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 7) {
        std::fprintf(stderr, "usage: %s settle|relay URL PREFIX VISIBILITY_SECONDS COUNT READY_FILE\n", argv[0]);
        return 2;
    }
    ::alarm(60);  // should the test itself die, this process does not outlive it by much
    const std::string mode = argv[1];
    failpipe::RedisAdapter::Options options;
    options.url = argv[2];
    options.key_prefix = argv[3];
    options.visibility_timeout = failpipe::Seconds{std::atof(argv[4])};
    failpipe::ShardGroupsOptions groups;
    groups.channels = {"orders", "payments"};
    options.shard_groups = failpipe::ShardGroups::derive({}, groups);
    options.outbox_relay = false;
    auto adapter = std::make_shared<failpipe::RedisAdapter>(options);
    const std::size_t count = static_cast<std::size_t>(std::atol(argv[5]));
    const std::string ready = argv[6];

    if (mode == "relay") {
        failpipe::detail::redis::set_outbox_fault_hook(kill_self_at);
        adapter->relay_outbox();
        return 3;  // nothing was published: the test expected follow-ups in the outbox
    }
    if (mode != "settle") return 2;
    failpipe::WorkerOptions worker_options;
    worker_options.channels = {"orders"};
    failpipe::Worker worker(adapter, failpipe::FailureMiddlewareDispatcher{}, failpipe::Classifier{}, worker_options);
    worker.on("job", [](const failpipe::Message& message, failpipe::HandlerContext& context) {
        context.push("payments", failpipe::Message::create("follow-up", {{"i", message.data["i"]}}));
    });
    while (waiting_in_outbox(*adapter) < count) worker.run_once();
    announce(ready);
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));  // "between settle and relay"
}
