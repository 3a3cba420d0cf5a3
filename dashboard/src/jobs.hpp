// Replays and purges started from the page run as jobs on threads of their own: the request that
// starts one answers at once with its id, and the page polls GET /api/job?id= for its progress.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "failpipe/error.hpp"

namespace failpipe::dashboard::detail {

/// Thrown by a job's progress callback when the server stops: the library call ends between two
/// chunks (each message moved or removed atomically, so nothing is lost or duplicated).
class JobCancelled : public Error {
public:
    using Error::Error;
};

/// Too many jobs run already (HTTP 429).
class TooManyJobs : public Error {
public:
    using Error::Error;
};

/// What a running job can do to report progress.
class JobProgress {
public:
    virtual ~JobProgress() = default;
    /// Records (done, total); throws JobCancelled when the server is stopping.
    virtual void operator()(std::size_t done, std::size_t total) = 0;
};

class Jobs {
public:
    /// The work: returns the result document (shown by the page), or throws (the job fails with its text).
    using Work = std::function<nlohmann::ordered_json(JobProgress&)>;

    Jobs(std::size_t max_running, std::size_t kept);
    ~Jobs();
    Jobs(const Jobs&) = delete;
    Jobs& operator=(const Jobs&) = delete;

    /// Starts @p work; returns the job's id. Throws TooManyJobs when max_running run already.
    std::string start(std::string kind, std::string channel, Work work);
    /// `{"id", "kind", "channel", "state": running|done|failed|cancelled, "done", "total", "result", "error"}`, or nothing.
    std::optional<nlohmann::ordered_json> get(const std::string& id) const;
    /// Cancels every running job and joins their threads.
    void stop();

private:
    struct Job;
    void finish_locked();

    std::size_t max_running_;
    std::size_t kept_;
    mutable std::mutex mutex_;
    std::list<std::shared_ptr<Job>> jobs_;  // newest last
    std::atomic<bool> stopping_{false};
};

}  // namespace failpipe::dashboard::detail
