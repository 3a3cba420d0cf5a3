// A user's program: one handler that fails once, a config, a worker on the in-memory adapter.
#include <failpipe/failpipe.hpp>
#include <failpipe/memory/in_memory_adapter.hpp>

#include <iostream>

int main() {
    auto adapter = std::make_shared<failpipe::InMemoryAdapter>();
    auto config = failpipe::parse_config(R"({"defaultPipeline": [{"type": "send-again", "id": "once", "maxAttempts": 1}]})");
    failpipe::Worker worker(adapter, config.make_dispatcher(), config.classifier, {.channels = {"orders"}});
    int runs = 0;
    worker.on("order", [&](const failpipe::Message&, failpipe::HandlerContext&) {
        if (++runs == 1) throw failpipe::TransientError("first try fails");
    });
    failpipe::Queue(adapter, "orders").push(failpipe::Message::create("order", {{"n", 1}}));
    worker.run_until_idle(10);
    std::cout << "handler ran " << runs << " times\n";
    return runs == 2 ? 0 : 1;
}
