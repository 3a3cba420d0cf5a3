#include "jobs.hpp"

#include <algorithm>

#include "failpipe/dashboard/dashboard_server.hpp"
#include "failpipe/dead_letters.hpp"
#include "logging.hpp"

namespace failpipe::dashboard::detail {

struct Jobs::Job : JobProgress {
    std::string id;
    std::string kind;
    std::string channel;
    const std::atomic<bool>* stopping = nullptr;
    mutable std::mutex mutex;
    std::string state = "running";
    std::size_t done = 0;
    std::size_t total = 0;
    nlohmann::ordered_json result;
    std::string error;
    std::thread thread;

    void operator()(std::size_t done_now, std::size_t total_now) override {
        {
            std::lock_guard lock(mutex);
            done = done_now;
            total = total_now;
        }
        if (stopping->load()) throw JobCancelled("the dashboard is stopping");
    }
    bool running() const {
        std::lock_guard lock(mutex);
        return state == "running";
    }
    nlohmann::ordered_json to_json() const {
        std::lock_guard lock(mutex);
        nlohmann::ordered_json doc;
        doc["id"] = id;
        doc["kind"] = kind;
        doc["channel"] = channel;
        doc["state"] = state;
        doc["done"] = done;
        doc["total"] = total;
        doc["result"] = result;
        doc["error"] = error.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(error);
        return doc;
    }
};

Jobs::Jobs(std::size_t max_running, std::size_t kept) : max_running_(std::max<std::size_t>(max_running, 1)), kept_(kept) {}

Jobs::~Jobs() { stop(); }

std::string Jobs::start(std::string kind, std::string channel, Work work) {
    auto job = std::make_shared<Job>();
    job->id = random_token().substr(0, 16);
    job->kind = std::move(kind);
    job->channel = std::move(channel);
    job->stopping = &stopping_;
    std::lock_guard lock(mutex_);
    if (stopping_) throw JobCancelled("the dashboard is stopping");
    const auto running = static_cast<std::size_t>(
        std::count_if(jobs_.begin(), jobs_.end(), [](const std::shared_ptr<Job>& j) { return j->running(); }));
    if (running >= max_running_)
        throw TooManyJobs(std::to_string(running) + " replays or purges are running already; wait for one to finish");
    finish_locked();
    job->thread = std::thread([job, work = std::move(work)] {
        nlohmann::ordered_json result;
        std::string error;
        std::string state = "done";
        try {
            result = work(*job);
        } catch (const JobCancelled& e) {
            state = "cancelled";
            error = std::string(e.what()) + "; what moved so far moved atomically: run it again to finish";
        } catch (const DeadLetterScanStopped& e) {
            state = e.why() == DeadLetterScanStopped::Why::stopped ? "cancelled" : "failed";
            error = std::string(e.what()) + "; what moved so far moved atomically: run it again to finish";
        } catch (const std::exception& e) {
            state = "failed";
            error = e.what();
        }
        if (!error.empty()) failpipe::detail::logger().warn("dashboard: {} of {} {}: {}", job->kind, job->channel, state, error);
        std::lock_guard job_lock(job->mutex);
        job->result = std::move(result);
        job->error = std::move(error);
        job->state = state;
    });
    jobs_.push_back(job);
    return job->id;
}

// Forgets the oldest finished jobs beyond the number kept.
void Jobs::finish_locked() {
    while (jobs_.size() >= kept_) {
        auto it = std::find_if(jobs_.begin(), jobs_.end(), [](const std::shared_ptr<Job>& j) { return !j->running(); });
        if (it == jobs_.end()) return;
        if ((*it)->thread.joinable()) (*it)->thread.join();
        jobs_.erase(it);
    }
}

std::optional<nlohmann::ordered_json> Jobs::get(const std::string& id) const {
    std::lock_guard lock(mutex_);
    for (const auto& job : jobs_)
        if (job->id == id) return job->to_json();
    return std::nullopt;
}

void Jobs::stop() {
    stopping_ = true;
    std::list<std::shared_ptr<Job>> jobs;
    {
        std::lock_guard lock(mutex_);
        jobs = jobs_;
    }
    for (auto& job : jobs)
        if (job->thread.joinable()) job->thread.join();
}

}  // namespace failpipe::dashboard::detail
