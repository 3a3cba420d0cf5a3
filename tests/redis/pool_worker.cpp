// A service process for the shutdown tests: a WorkerPool run until SIGINT/SIGTERM, as a main would.
// Its handler appends "start <id>" and "done <id>" lines to a file (one write(2) each, so they
// survive std::_Exit), sleeping HANDLER_MS in between.
//
// usage: failpipe_redis_pool_worker URL PREFIX CHANNEL VISIBILITY_S THREADS BATCH GRACE_S HANDLER_MS LOG_FILE
//                                   STARTING_FILE STARTUP_MS
// STARTING_FILE is created first thing (signals are already blocked then); STARTUP_MS is slept
// before the pool is built, as a slow start-up would.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "failpipe/redis/redis_adapter.hpp"
#include "failpipe/shutdown_signals.hpp"
#include "failpipe/worker_pool.hpp"

namespace {

void append_line(int fd, const std::string& line) {
    const std::string text = line + "\n";
    (void)!::write(fd, text.data(), text.size());  // O_APPEND: one line per write, never interleaved
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 12) {
        std::fprintf(stderr, "usage: %s URL PREFIX CHANNEL VISIBILITY_S THREADS BATCH GRACE_S HANDLER_MS LOG_FILE "
                             "STARTING_FILE STARTUP_MS\n", argv[0]);
        return 2;
    }
    failpipe::ShutdownSignals signals;  // first: before any thread exists
    ::alarm(60);                        // should the test die, this process does not outlive it by much
    { std::ofstream(argv[10]) << "starting\n"; }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atol(argv[11])));

    failpipe::RedisAdapter::Options adapter_options;
    adapter_options.url = argv[1];
    adapter_options.key_prefix = argv[2];
    adapter_options.visibility_timeout = failpipe::Seconds{std::atof(argv[4])};
    auto adapter = std::make_shared<failpipe::RedisAdapter>(adapter_options);

    failpipe::WorkerOptions worker;
    worker.channels = {argv[3]};
    worker.batch_size = static_cast<std::size_t>(std::atol(argv[6]));
    worker.wait = std::chrono::milliseconds(20);
    worker.visibility_timeout = adapter_options.visibility_timeout;
    failpipe::WorkerPoolOptions options;
    options.threads = static_cast<std::size_t>(std::atol(argv[5]));
    options.shutdown_grace = failpipe::Seconds{std::atof(argv[7])};
    failpipe::WorkerPool pool(adapter, failpipe::FailureMiddlewareDispatcher{}, failpipe::Classifier{}, worker, options);

    const int log = ::open(argv[9], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log < 0) return 3;
    const auto handler_time = std::chrono::milliseconds(std::atol(argv[8]));
    pool.on("job", [&](const failpipe::Message& message, failpipe::HandlerContext&) {
        append_line(log, "start " + message.id);
        std::this_thread::sleep_for(handler_time);
        append_line(log, "done " + message.id);
    });
    return pool.run_until_signalled(signals);
}
