// Fuzz target: metadata counters read back by the failure pipeline.
//
// A message whose metadata is fuzzer-built JSON (an object is used as the metadata; any other JSON
// value is written into every counter the built-in middlewares read) fails on every delivery in a
// Worker over the in-memory adapter with a ManualClock, through the built-in middlewares
// (send-again, exponential-delay with and without jitter, dead-letter, final dead-letter).
//
// Properties, for each pipeline below: the handler runs at most (the pipeline's configured
// attempts + 1) times — whatever the counters in the metadata say, the pipeline's own limits bound
// the retry loop — and the message is not lost: it ends as exactly one dead letter carrying its
// id and a non-negative attempt count, with every other channel empty.
#include <cstdlib>
#include <memory>
#include <string>

#include "../fuzz_support.hpp"
#include "failpipe/config.hpp"
#include "failpipe/error.hpp"
#include "failpipe/memory/in_memory_adapter.hpp"
#include "failpipe/metadata_keys.hpp"
#include "failpipe/queue.hpp"
#include "failpipe/worker.hpp"

namespace {

using namespace failpipe;
using nlohmann::json;

struct Scenario {
    const char* config;             // a deployment's JSON config
    long long attempts;             // retries the pipeline allows in all (sum of maxAttempts)
    std::vector<std::string> ids;   // the middleware ids whose counters the metadata may fake
    bool permanent;                 // the handler throws PermanentError (else TransientError)
};

const Scenario kScenarios[] = {
    {R"({"defaultPipeline": [
          {"type": "send-again", "id": "again", "maxAttempts": 2},
          {"type": "exponential-delay", "id": "backoff", "maxAttempts": 3,
           "delayInitial": 1, "delayMaximum": 10, "exponent": 2}]})",
     5, {"again", "backoff"}, false},
    {R"({"defaultPipeline": [
          {"type": "dead-letter", "id": "permanent", "on": ["permanent"]},
          {"type": "send-again", "id": "again", "maxAttempts": 1, "queue": "orders:slow"},
          {"type": "exponential-delay", "id": "backoff", "maxAttempts": 2, "delayInitial": 0.5,
           "delayMaximum": 10, "exponent": 3, "jitter": "full", "queue": "orders:slow"}]})",
     3, {"again", "backoff"}, false},
    {R"({"defaultPipeline": [
          {"type": "dead-letter", "id": "permanent", "on": ["permanent"]},
          {"type": "send-again", "id": "again", "maxAttempts": 4}]})",
     0, {"again"}, true},
};

constexpr double kDelayMaximum = 10.0;

// A non-object value goes into every counter a middleware or the dispatcher reads.
json metadata_from(const json& value, const Scenario& scenario) {
    if (value.is_object()) return value;
    json counters = json::object();
    counters[std::string(metadata_keys::failures)] = value;
    for (const auto& id : scenario.ids) {
        counters[std::string(metadata_keys::resend_attempts_prefix) + id] = value;
        counters[std::string(metadata_keys::delay_attempts_prefix) + id] = value;
        counters[std::string(metadata_keys::delay_delay_prefix) + id] = value;
        counters[std::string(metadata_keys::delay_applied_prefix) + id] = value;
    }
    json metadata = counters;  // Yii's flat keys, and failpipe's nested object
    metadata[std::string(metadata_keys::failure)] = counters;
    return metadata;
}

void run(const Scenario& scenario, const json& metadata) {
    auto clock = std::make_shared<ManualClock>();
    const Config config = parse_config(scenario.config, MiddlewareRegistry::with_builtins(), clock);
    auto adapter = std::make_shared<InMemoryAdapter>(InMemoryAdapter::Options{.visibility_timeout = Seconds{30.0},
                                                                              .clock = clock});
    WorkerOptions options;
    options.channels = {"orders", "orders:slow"};
    options.wait = std::chrono::milliseconds{0};
    Worker worker(adapter, config.make_dispatcher(), config.classifier, options);
    long long runs = 0;
    const bool permanent = scenario.permanent;
    worker.on("order.place", [&runs, permanent](const Message&, HandlerContext&) {
        ++runs;
        if (permanent) throw PermanentError("fuzz: always fails");
        throw TransientError("fuzz: always fails");
    });

    Message message = Message::create("order.place", {{"order", 1}});
    message.metadata = metadata;
    const std::string id = Queue(adapter, "orders").push(message);

    const long long bound = scenario.attempts + 1;
    for (long long round = 0; round <= bound + 1; ++round) {
        worker.run_until_idle(static_cast<std::size_t>(bound + 2));
        fuzz::check(runs <= bound, "the handler runs at most the pipeline's attempts + 1 times",
                    std::to_string(runs) + " runs, metadata " + metadata.dump(-1, ' ', false, json::error_handler_t::replace));
        clock->advance(Seconds{kDelayMaximum + 1.0});
    }

    std::size_t dead = 0;
    for (const auto& channel : adapter->channels()) {
        const ChannelDepth depth = adapter->depth(channel);
        if (!channel.ends_with(":dlq")) {
            fuzz::check(depth.ready + depth.delayed + depth.reserved == 0, "nothing is left outside the dead letters",
                        channel + " still holds the message after " + std::to_string(runs) + " runs");
            continue;
        }
        for (const Message& letter : adapter->browse(channel, 0, 10)) {
            ++dead;
            fuzz::check(letter.id == id, "the dead letter is the message");
            const json& record = letter.metadata.at(std::string(metadata_keys::dead_letter));
            fuzz::check(!record.at("attempts").is_number() || record.at("attempts").get<double>() >= 0,
                        "the dead letter records a non-negative attempt count", record.dump());
        }
    }
    fuzz::check(dead == 1, "the message ends as exactly one dead letter",
                std::to_string(dead) + " dead letters after " + std::to_string(runs) + " runs");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    // The worker logs every failure; the properties speak here (FAILPIPE_LOG_LEVEL set by the user wins).
    static const bool quiet = ::setenv("FAILPIPE_LOG_LEVEL", "off", 0) == 0;
    (void)quiet;
    const json value = json::parse(fuzz::as_text(data, size), nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) return 0;
    for (const Scenario& scenario : kScenarios) run(scenario, metadata_from(value, scenario));
    return 0;
}
