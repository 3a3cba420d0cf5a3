// A worker process for the SIGKILL test: it takes one message of a channel, announces the message id
// in a file, and then hangs in the handler until the test kills it with SIGKILL.
//
// usage: failpipe_redis_crash_worker URL PREFIX CHANNEL VISIBILITY_SECONDS STARTED_FILE
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "failpipe/redis/redis_adapter.hpp"
#include "failpipe/worker.hpp"

int main(int argc, char** argv) {
    if (argc != 6) {
        std::fprintf(stderr, "usage: %s URL PREFIX CHANNEL VISIBILITY_SECONDS STARTED_FILE\n", argv[0]);
        return 2;
    }
    // A safety net: should the test itself die, this process does not outlive it by much.
    ::alarm(60);
    failpipe::RedisAdapter::Options options;
    options.url = argv[1];
    options.key_prefix = argv[2];
    options.visibility_timeout = failpipe::Seconds{std::atof(argv[4])};
    auto adapter = std::make_shared<failpipe::RedisAdapter>(options);

    failpipe::WorkerOptions worker_options;
    worker_options.channels = {argv[3]};
    worker_options.batch_size = 1;
    failpipe::Worker worker(adapter, failpipe::FailureMiddlewareDispatcher{}, failpipe::Classifier{}, worker_options);
    const std::string started = argv[5];
    worker.on("job", [&](const failpipe::Message& message, failpipe::HandlerContext&) {
        {
            std::ofstream(started + ".tmp") << message.id << '\n';
        }
        std::rename((started + ".tmp").c_str(), started.c_str());
        for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));  // "in the middle of the handler"
    });
    for (;;) worker.run_once();
}
