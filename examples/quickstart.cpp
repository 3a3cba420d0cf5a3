#include <failpipe/failpipe.hpp>
#include <failpipe/memory/in_memory_adapter.hpp>

#include <iostream>

int main() {
    // Permanent errors go straight to the dead letters; the rest are sent again once, then
    // retried with a growing delay; whatever is still failing ends in "orders:dlq".
    auto config = failpipe::parse_config(R"({
        "defaultPipeline": [
            {"type": "dead-letter", "id": "permanent", "on": ["permanent"]},
            {"type": "send-again", "id": "again", "maxAttempts": 1},
            {"type": "exponential-delay", "id": "backoff", "maxAttempts": 3,
             "delayInitial": 0.01, "delayMaximum": 0.05, "exponent": 2}
        ]
    })");

    auto adapter = std::make_shared<failpipe::InMemoryAdapter>();
    failpipe::Worker worker(adapter, config.make_dispatcher(), config.classifier, {.channels = {"orders"}});
    worker.on("order.place", [](const failpipe::Message& message, failpipe::HandlerContext& context) {
        if (message.data.at("card") == "declined") throw failpipe::PermanentError("card declined");
        // Published only if this handler returns: settled atomically with the acknowledgement.
        context.push("emails", failpipe::Message::create("email.receipt", message.data));
    });

    failpipe::Queue orders(adapter, "orders");
    orders.push(failpipe::Message::create("order.place", {{"order", 1}, {"card", "ok"}}));
    orders.push(failpipe::Message::create("order.place", {{"order", 2}, {"card", "declined"}}));
    worker.run_until_idle();

    for (const auto& dead : adapter->browse("orders:dlq", 0, 10)) {
        const auto& why = dead.metadata["failpipe-dead-letter"];
        std::cout << "dead letter: order " << dead.data["order"] << " — " << why["errorMessage"] << " ("
                  << why["errorClass"] << ")\n";
    }
    std::cout << "receipts: " << adapter->depth("emails").ready << "\n";
}
