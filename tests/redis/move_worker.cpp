// A replay process for the SIGKILL test: it moves the messages m-0 … m-(COUNT-1) from one channel to
// another in ONE move() call (the adapter goes in chunks), slowly (its rewrite sleeps a little per
// message), so the test can kill it with SIGKILL in the middle.
//
// usage: failpipe_redis_move_worker URL PREFIX FROM TO COUNT
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "failpipe/redis/redis_adapter.hpp"

int main(int argc, char** argv) {
    if (argc != 6) {
        std::fprintf(stderr, "usage: %s URL PREFIX FROM TO COUNT\n", argv[0]);
        return 2;
    }
    ::alarm(60);  // should the test itself die, this process does not outlive it by much
    failpipe::RedisAdapter::Options options;
    options.url = argv[1];
    options.key_prefix = argv[2];
    failpipe::RedisAdapter adapter(options);
    std::vector<std::string> ids;
    const int count = std::atoi(argv[5]);
    for (int i = 0; i < count; ++i) ids.push_back("m-" + std::to_string(i));
    const auto result = adapter.move(argv[3], argv[4], ids, [](failpipe::Message& message) {
        std::this_thread::sleep_for(std::chrono::microseconds(300));
        message.metadata["replays"] = message.metadata.value("replays", 0) + 1;
    });
    std::printf("moved %zu, skipped %zu\n", result.moved.size(), result.skipped.size());
    return 0;
}
