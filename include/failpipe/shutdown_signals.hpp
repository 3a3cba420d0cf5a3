/// @file shutdown_signals.hpp
/// @brief ShutdownSignals: SIGINT and SIGTERM turned into a shutdown request, the RAII way.
///
/// Construct it first thing in main, before any thread is started: it blocks SIGINT and SIGTERM in
/// the calling thread (every thread started later inherits the mask) and watches them on a thread
/// of its own through a signalfd, so no work is ever done in a signal handler. A signal that comes
/// before the program is ready (during start-up) is therefore never lost and never kills the process
/// half-way: it is recorded, and WorkerPool::run_until_signalled returns at once without reserving.
///
/// The second signal exits the process at once: std::_Exit(128 + signal number), i.e. 130 for
/// SIGINT and 143 for SIGTERM. Deliveries that were not settled stay with the broker and come back
/// after their visibility timeout. See docs/runtime.md, "Signals and exit codes".
///
/// Thread safety: every member may be called from any thread. One instance per process.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <signal.h>

namespace failpipe {

/// @brief Watches SIGINT and SIGTERM from construction to destruction.
class ShutdownSignals {
public:
    /// @brief What the second signal does. `exit` is for programs; `record` (tests) only counts it.
    enum class SecondSignal { exit, record };

    /// @brief Blocks SIGINT and SIGTERM in the calling thread and starts watching them. Throws
    /// failpipe::Error when the signalfd cannot be set up, or when another instance is alive.
    explicit ShutdownSignals(SecondSignal second = SecondSignal::exit);
    /// @brief Stops watching and restores the calling thread's previous signal mask (construct and
    /// destroy it on the same thread, normally main's).
    ~ShutdownSignals();
    ShutdownSignals(const ShutdownSignals&) = delete;
    ShutdownSignals& operator=(const ShutdownSignals&) = delete;

    /// @brief How many SIGINT/SIGTERM arrived so far.
    int count() const;
    /// @brief The last signal number received (0 before any).
    int last_signal() const;
    /// @brief Waits until at least @p count signals arrived or @p timeout passed; true if they did.
    bool wait_for(int count, std::chrono::milliseconds timeout) const;
    /// @brief Waits without a time limit until at least @p count signals arrived.
    void wait(int count = 1) const;

    /// @brief The exit code of the second signal @p signal_number: 128 + signal_number.
    static constexpr int exit_code_for(int signal_number) noexcept { return 128 + signal_number; }

private:
    void watch() noexcept;

    SecondSignal second_;
    sigset_t previous_{};
    int signal_fd_ = -1;
    int wake_fd_ = -1;  // an eventfd that ends the watcher
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    int count_ = 0;
    int last_ = 0;
    std::thread watcher_;
};

}  // namespace failpipe
