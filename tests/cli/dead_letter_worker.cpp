// A real Worker for the CLI tests: it runs the pipelines of a config over Redis with a handler that
// always fails, until COUNT messages wait in the dead-letter channel that config names. The `failpipe`
// commands are then tested on dead letters exactly as a deployment's workers write them.
//
// usage: failpipe_cli_dead_letter_worker URL PREFIX CONFIG CHANNEL COUNT
// Exits 0 once COUNT dead letters wait (it prints where), 1 when they do not within 30 s.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "failpipe/config.hpp"
#include "failpipe/redis/redis_adapter.hpp"
#include "failpipe/worker.hpp"

namespace {

int run(char** argv) {
    const failpipe::Config config = failpipe::load_config_file(argv[3]);
    failpipe::RedisAdapter::Options options;
    options.url = argv[1];
    options.key_prefix = argv[2];
    auto adapter = std::make_shared<failpipe::RedisAdapter>(failpipe::RedisAdapter::with_config(std::move(options), config));

    const std::string channel = argv[4];
    const std::size_t count = std::strtoul(argv[5], nullptr, 10);
    failpipe::WorkerOptions worker_options = config.worker;
    worker_options.channels = {channel};
    failpipe::Worker worker(adapter, config.make_dispatcher(), config.classifier, worker_options);
    worker.on("t", [](const failpipe::Message&, failpipe::HandlerContext&) { throw std::runtime_error("card declined"); });

    const std::string dead_letters = channel + config.dispatcher.dead_letter_suffix;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        worker.run_once();
        if (adapter->depth(dead_letters).total() >= count) {
            std::printf("dead-lettered %zu to %s\n", count, dead_letters.c_str());
            return 0;
        }
    }
    std::fprintf(stderr, "fewer than %zu dead letters in %s after 30 s\n", count, dead_letters.c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 6) {
        std::fprintf(stderr, "usage: %s URL PREFIX CONFIG CHANNEL COUNT\n", argv[0]);
        return 2;
    }
    ::alarm(60);  // should the test itself die, this process does not outlive it by much
    try {
        return run(argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", argv[0], e.what());
        return 1;
    }
}
