// The dashboard's JSON API: one function per endpoint over the library (DeadLetters, channel_stats,
// check_health, explain), independent of the HTTP server that routes to it.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "failpipe/dashboard/dashboard_server.hpp"
#include "failpipe/dead_letters.hpp"
#include "failpipe/failure_middleware_dispatcher.hpp"
#include "failpipe/health.hpp"
#include "jobs.hpp"
#include "sampler.hpp"

namespace failpipe::dashboard::detail {

/// A request the API refuses with an HTTP status, e.g. 400 for a bad parameter.
class HttpError : public Error {
public:
    HttpError(int status, const std::string& message) : Error(message), status_(status) {}
    HttpError(int status, std::string kind, const std::string& message)
        : Error(message), status_(status), kind_(std::move(kind)) {}
    int status() const noexcept { return status_; }
    const std::string& kind() const noexcept { return kind_; }

private:
    int status_;
    std::string kind_ = "request";
};

using Params = std::multimap<std::string, std::string>;

/// An answer: status and JSON body.
struct ApiReply {
    int status = 200;
    nlohmann::ordered_json body;
};

/// `{"error": text, "kind": kind, "status": status}`.
ApiReply error_reply(int status, const std::string& message, const std::string& kind = "request");

/// @p doc as the bytes of a response: UTF-8 (invalid bytes replaced), with `<`, `>` and `&` as
/// \u escapes so that no message text can read as markup even if a client mistook the type.
std::string json_body(const nlohmann::ordered_json& doc);

class Api {
public:
    Api(std::shared_ptr<AdapterInterface> adapter, const DashboardOptions& options);
    ~Api();

    ApiReply info() const;
    ApiReply overview();
    ApiReply rates() const;
    ApiReply broker() const;
    ApiReply dead_letters(const Params& params) const;
    ApiReply count(const Params& params) const;
    ApiReply groups(const Params& params) const;
    ApiReply message(const Params& params) const;
    ApiReply explain(const Params& params);
    ApiReply job(const Params& params) const;
    ApiReply replay(const std::string& body);
    ApiReply purge(const std::string& body);

    /// Runs @p call, turning the library's errors into replies: InvalidArgumentError 400,
    /// DeadLetterNotFoundError 404, a broker that does not answer 503, too many jobs 429.
    template <class Call>
    static ApiReply guarded(Call&& call);

    void start();
    /// Makes every running scan and job stop at its next message (answers 503 / job cancelled).
    void cancel();
    /// cancel(), then joins the jobs and the sampler.
    void stop();

private:
    DeadLetterPage page_after(const DeadLetterFilter& filter, const std::string& cursor, std::size_t limit) const;
    DeadLetters::Options options_letters(bool bounded) const;
    HealthOptions health_options() const;
    HealthOptions heartbeat_options() const;
    void require_broker(const std::string& channel, const char* nothing_done) const;
    DeadLetterFilter filter_of(const nlohmann::json& body) const;

    std::shared_ptr<AdapterInterface> adapter_;
    const DashboardOptions& options_;
    std::atomic<bool> stopping_{false};
    DeadLetters letters_;      // requests: with the scan deadline
    DeadLetters job_letters_;  // replay and purge jobs: no deadline
    FailureMiddlewareDispatcher dispatcher_;
    std::mutex explain_mutex_;
    std::mutex health_mutex_;
    std::optional<HealthReport> previous_health_;
    // One probe in flight each, however many pages poll (null: the adapter cannot be inspected so;
    // probe_broker then says why).
    std::unique_ptr<BrokerProbe> health_probe_;     // the overview: every dead-letter channel
    std::unique_ptr<BrokerProbe> heartbeat_probe_;  // /api/broker: one key's depth
    Sampler sampler_;
    Jobs jobs_;
};

ApiReply reply_for_current_exception();

template <class Call>
ApiReply Api::guarded(Call&& call) {
    try {
        return call();
    } catch (...) {
        return reply_for_current_exception();
    }
}

}  // namespace failpipe::dashboard::detail
