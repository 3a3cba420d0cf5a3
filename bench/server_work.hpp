// The system calls a redis-server makes over a run, counted from outside it with perf stat, for
// `FAILPIPE_BENCH_SYSCALLS=1 scripts/bench-redis.sh --cluster`. Unlike CPU seconds, the count does not
// grow when the server waits for a core or runs on a cold cache: it tells how often the server
// enters the kernel per message (reading requests, writing replies and its replica's feed, waiting
// for the next event), the part of its CPU that used_cpu_sys reports.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

namespace failpipe::bench {

/// Counts the system calls of the process @p pid (every thread) from construction to stop():
/// `perf stat -e raw_syscalls:sys_enter,syscalls:sys_enter_<call>... -p <pid>` as a child process.
/// Tracepoints are software events, so this works where hardware counters do not; it needs the
/// right to trace that process (root, or perf_event_paranoid low enough).
class SyscallCounter {
public:
    /// The calls counted one by one; "all" counts every system call.
    static constexpr const char* kCalls[] = {"read", "write", "writev", "epoll_wait"};

    explicit SyscallCounter(long pid) {
        char path[] = "/tmp/failpipe-bench-perf.XXXXXX";
        const int fd = ::mkstemp(path);
        if (fd < 0) throw std::runtime_error("cannot create a temporary file for perf stat");
        ::close(fd);
        output_ = path;
        const std::string target = std::to_string(pid);
        std::string events = "raw_syscalls:sys_enter";
        for (const char* call : kCalls) events += std::string(",syscalls:sys_enter_") + call;
        child_ = ::fork();
        if (child_ < 0) throw std::runtime_error("cannot fork for perf stat");
        if (child_ == 0) {
            const int null = ::open("/dev/null", O_RDWR);
            if (null >= 0) {
                ::dup2(null, STDIN_FILENO);
                ::dup2(null, STDOUT_FILENO);
            }
            ::execlp("perf", "perf", "stat", "-x", ",", "-e", events.c_str(), "-p", target.c_str(), "-o", output_.c_str(),
                     static_cast<char*>(nullptr));
            ::_exit(127);
        }
        // perf attaches within milliseconds; the run must not start before it counts.
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        int status = 0;
        if (::waitpid(child_, &status, WNOHANG) == child_) {
            child_ = -1;
            throw std::runtime_error("perf stat -e " + events + " -p " + target + " ended at once: " + contents() +
                                     " (is linux-perf installed, and may this user trace that process?)");
        }
    }
    SyscallCounter(const SyscallCounter&) = delete;
    SyscallCounter& operator=(const SyscallCounter&) = delete;
    ~SyscallCounter() {
        if (child_ > 0) {
            ::kill(child_, SIGKILL);
            ::waitpid(child_, nullptr, 0);
        }
        std::remove(output_.c_str());
    }

    /// Stops counting; returns the count of each call of kCalls and of "all".
    std::map<std::string, std::uint64_t> stop() {
        if (child_ <= 0) throw std::logic_error("SyscallCounter stopped twice");
        ::kill(child_, SIGINT);
        ::waitpid(child_, nullptr, 0);
        child_ = -1;
        // perf stat -x , writes "<count>,<unit>,<event>,..." per event; comments start with '#'.
        std::map<std::string, std::uint64_t> counts;
        std::istringstream lines(contents());
        std::string line;
        while (std::getline(lines, line)) {
            if (line.empty() || line[0] == '#') continue;
            std::istringstream fields(line);
            std::string count, unit, event;
            std::getline(fields, count, ',');
            std::getline(fields, unit, ',');
            std::getline(fields, event, ',');
            if (count.empty() || count.find_first_not_of("0123456789") != std::string::npos) continue;
            if (event == "raw_syscalls:sys_enter") counts["all"] = std::stoull(count);
            if (event.rfind("syscalls:sys_enter_", 0) == 0) counts[event.substr(19)] = std::stoull(count);
        }
        if (counts.count("all") == 0) throw std::runtime_error("perf stat counted no system calls: " + contents());
        return counts;
    }

private:
    std::string contents() const {
        std::ifstream in(output_);
        std::ostringstream text;
        text << in.rdbuf();
        return text.str();
    }

    pid_t child_ = -1;
    std::string output_;
};

}  // namespace failpipe::bench
