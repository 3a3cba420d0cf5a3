#include "failpipe/shutdown_signals.hpp"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "failpipe/error.hpp"
#include "logging.hpp"

namespace failpipe {
namespace {

std::atomic<bool> g_alive{false};  // one instance per process: signals are process-wide

sigset_t shutdown_set() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    return set;
}

const char* signal_name(int number) { return number == SIGINT ? "SIGINT" : number == SIGTERM ? "SIGTERM" : "a signal"; }

}  // namespace

ShutdownSignals::ShutdownSignals(SecondSignal second) : second_(second) {
    if (g_alive.exchange(true)) throw Error("ShutdownSignals: another instance is alive (signals are process-wide)");
    const sigset_t set = shutdown_set();
    if (int error = ::pthread_sigmask(SIG_BLOCK, &set, &previous_); error != 0) {
        g_alive = false;
        throw Error(std::string("ShutdownSignals: cannot block SIGINT/SIGTERM: ") + std::strerror(error));
    }
    signal_fd_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (signal_fd_ < 0 || wake_fd_ < 0) {
        const std::string why = std::strerror(errno);
        if (signal_fd_ >= 0) ::close(signal_fd_);
        if (wake_fd_ >= 0) ::close(wake_fd_);
        ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
        g_alive = false;
        throw Error("ShutdownSignals: cannot watch SIGINT/SIGTERM: " + why);
    }
    watcher_ = std::thread([this] { watch(); });
}

ShutdownSignals::~ShutdownSignals() {
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
    watcher_.join();
    ::close(signal_fd_);
    ::close(wake_fd_);
    ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
    g_alive = false;
}

void ShutdownSignals::watch() noexcept {
    for (;;) {
        pollfd fds[2] = {{signal_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            detail::logger().error("ShutdownSignals: poll failed ({}); signals are no longer watched", std::strerror(errno));
            return;
        }
        if (fds[1].revents != 0) return;
        signalfd_siginfo info{};
        while (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
            const int number = static_cast<int>(info.ssi_signo);
            int count = 0;
            {
                std::lock_guard lock(mutex_);
                count = ++count_;
                last_ = number;
            }
            changed_.notify_all();
            if (count == 1) {
                detail::logger().warn("{} received: shutting down (send it again to exit at once)", signal_name(number));
            } else if (second_ == SecondSignal::exit) {
                detail::logger().error("{} received again: exiting at once with code {}; deliveries not settled come "
                                       "back after the broker's visibility timeout",
                                       signal_name(number), exit_code_for(number));
                detail::logger().flush();
                std::_Exit(exit_code_for(number));
            }
        }
    }
}

int ShutdownSignals::count() const {
    std::lock_guard lock(mutex_);
    return count_;
}

int ShutdownSignals::last_signal() const {
    std::lock_guard lock(mutex_);
    return last_;
}

bool ShutdownSignals::wait_for(int count, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return count_ >= count; });
}

void ShutdownSignals::wait(int count) const {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return count_ >= count; });
}

}  // namespace failpipe
