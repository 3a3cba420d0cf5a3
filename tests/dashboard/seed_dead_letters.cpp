// Writes dead letters whose origin says what the test wants, as a producer may forge it: for the
// test that `failpipe dlq replay` and `failpipe dashboard` trust the same origins (origin_trust.sh).
//
// usage: failpipe_seed_dead_letters URL PREFIX CHANNEL ID=ORIGIN...
// Pushes to CHANNEL (a dead-letter channel) one dead letter per ID, whose failure record and
// `failpipe-origin` name ORIGIN as the channel it failed on. Exits 0 once all are pushed.
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "failpipe/message.hpp"
#include "failpipe/metadata_keys.hpp"
#include "failpipe/redis/redis_adapter.hpp"

namespace {

failpipe::Message dead_letter(const std::string& id, const std::string& origin) {
    failpipe::Message message = failpipe::Message::create("t", {{"id", id}});
    message.id = id;
    message.metadata[std::string(failpipe::metadata_keys::origin)] = {{"channel", origin}, {"id", id}};
    message.metadata[std::string(failpipe::metadata_keys::dead_letter)] = {
        {"reason", "failure"}, {"errorType", "std::runtime_error"}, {"errorMessage", "card declined"},
        {"errorClass", "unknown"}, {"originalChannel", origin}, {"id", id}};
    return message;
}

int run(int argc, char** argv) {
    failpipe::RedisAdapter::Options options;
    options.url = argv[1];
    options.key_prefix = argv[2];
    failpipe::RedisAdapter adapter(std::move(options));
    for (int i = 4; i < argc; ++i) {
        const std::string pair = argv[i];
        const auto equals = pair.find('=');
        if (equals == std::string::npos) {
            std::fprintf(stderr, "expected ID=ORIGIN, found %s\n", pair.c_str());
            return 2;
        }
        adapter.push(argv[3], dead_letter(pair.substr(0, equals), pair.substr(equals + 1)));
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: %s URL PREFIX CHANNEL ID=ORIGIN...\n", argv[0]);
        return 2;
    }
    try {
        return run(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
}
