// The dashboard under test (a DashboardServer over the known set, or the `failpipe dashboard` binary
// as a child process) and the page reads the tests repeat: a view's rows, the overview's counts.
#pragma once

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "failpipe/dashboard/dashboard_server.hpp"
#include "failpipe/exponential_delay_middleware.hpp"
#include "failpipe/send_again_middleware.hpp"
#include "browser_test_support.hpp"
#include "known_set.hpp"

namespace failpipe::browser_test {

using namespace std::chrono_literals;

/// The token of every dashboard the tests start.
inline constexpr const char* kToken = "browser-test-token-0123456789abcdef";

/// orders: two immediate retries, three with a growing delay, then the dead letters: what explain draws.
inline FailureMiddlewareDispatcher::Options orders_pipelines() {
    FailureMiddlewareDispatcher::Options options;
    options.pipelines["orders"] = {std::make_shared<SendAgainMiddleware>("again", 2),
                                   std::make_shared<ExponentialDelayMiddleware>("backoff", 3, 5.0, 300.0, 3.0)};
    return options;
}

inline dashboard::DashboardOptions dashboard_options(bool read_only = false) {
    dashboard::DashboardOptions options;
    options.listen = ListenAddress::parse("127.0.0.1:0");
    options.token = kToken;
    options.read_only = read_only;
    options.pipelines = std::make_shared<const FailureMiddlewareDispatcher::Options>(orders_pipelines());
    options.sample_interval = Seconds{1.0};
    options.broker_timeout = Seconds{1.0};
    return options;
}

/// A DashboardServer over @p adapter on a free loopback port, stopped when the object ends.
class RunningDashboard {
public:
    explicit RunningDashboard(std::shared_ptr<AdapterInterface> adapter, dashboard::DashboardOptions options = dashboard_options())
        : server_(std::make_unique<dashboard::DashboardServer>(std::move(adapter), std::move(options))) {
        port_ = server_->start();
    }
    /// The page at @p route (`/channel/orders/groups`), as an operator would paste it.
    std::string at(const std::string& route) const { return base() + "#" + route; }
    /// The first visit: the URL the dashboard prints, with the token in its fragment.
    std::string with_token(const std::string& token = kToken) const { return base() + "#token=" + token; }
    std::string base() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
    int port() const noexcept { return port_; }

private:
    std::unique_ptr<dashboard::DashboardServer> server_;
    int port_ = 0;
};

/// Waits until the page shows view @p view rendered (`app` data-view and data-ready).
inline void wait_view(const Session& session, const std::string& view, std::chrono::milliseconds bound = 15s) {
    session.wait_until(
        [&] {
            const auto app = session.find_optional(testid("app"));
            return app && app->attribute("data-view") == view && app->attribute("data-ready") == "1";
        },
        "the " + view + " view to be rendered", bound);
}

/// The data-id (or other @p attribute) of every element matching @p css, in page order.
inline std::vector<std::string> attributes_of(const Session& session, const std::string& css,
                                              const std::string& attribute = "data-id") {
    const auto value = session.execute(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.getAttribute(arguments[1]));",
        {css, attribute});
    std::vector<std::string> out;
    for (const auto& item : value) out.push_back(item.is_string() ? item.get<std::string>() : std::string());
    return out;
}

inline std::vector<std::string> sorted(std::vector<std::string> values) {
    std::sort(values.begin(), values.end());
    return values;
}

/// Waits until the rows matching @p css carry exactly @p expected ids (in any order); returns them.
inline std::vector<std::string> wait_rows(const Session& session, const std::string& css, std::vector<std::string> expected,
                                          std::chrono::milliseconds bound = 15s) {
    expected = sorted(std::move(expected));
    std::vector<std::string> seen;
    try {
        session.wait_until([&] { return (seen = sorted(attributes_of(session, css))) == expected; }, "rows " + css, bound);
    } catch (const WebDriverError& e) {
        std::string shown;
        for (const auto& id : seen) shown += (shown.empty() ? "" : ", ") + id;
        FAIL(e.what() << "; the page shows [" << shown << "]");
    }
    return seen;
}

/// The overview's counts: channel → {ready, delayed, reserved, dead, parked, evicted} as shown.
inline std::map<std::string, std::map<std::string, std::string>> overview_counts(const Session& session) {
    const auto value = session.execute(R"js(
        const out = {};
        for (const row of document.querySelectorAll('[data-testid=channel-row]')) {
          const counts = {};
          for (const name of ['ready', 'delayed', 'reserved', 'dead', 'parked', 'evicted']) {
            const cell = row.querySelector('[data-testid=count-' + name + ']');
            counts[name] = cell ? cell.textContent.trim() : '(none)';
          }
          out[row.getAttribute('data-channel')] = counts;
        }
        return out;)js");
    return value.get<std::map<std::string, std::map<std::string, std::string>>>();
}

/// A POST to the dashboard's API as a script (not a browser) would send it.
inline httplib::Result api_post(int port, const std::string& path, const nlohmann::json& body,
                                const std::string& token = kToken) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(5);
    client.set_read_timeout(10);
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("X-Failpipe-Token", token);
    return client.Post(path.c_str(), headers, body.dump(), "application/json");
}

/// What `failpipe <args>` printed (stdout and stderr) and its exit status.
struct CliRun {
    int status = -1;
    std::string output;
};

inline std::string shell_quote(const std::string& text) {
    std::string out = "'";
    for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

inline CliRun run_cli(const std::vector<std::string>& args) {
    std::string command = shell_quote(FAILPIPE_CLI);
    for (const auto& arg : args) command += " " + shell_quote(arg);
    command += " 2>&1";
    CliRun run;
    FILE* pipe = ::popen(command.c_str(), "r");
    REQUIRE(pipe != nullptr);
    char buffer[4096];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) run.output.append(buffer, n);
    const int status = ::pclose(pipe);
    run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}

/// The ids `failpipe dlq list --channel <channel> --format json` shows: what an operator checks after.
inline std::vector<std::string> cli_dead_letter_ids(const KnownSet& set, const std::string& channel) {
    const auto run = run_cli({"dlq", "list", "--channel", channel, "--limit", "1000", "--format", "json", "--redis",
                              set.url, "--prefix", set.prefix});
    INFO("failpipe dlq list: " << run.output);
    REQUIRE(run.status == 0);
    const auto doc = nlohmann::json::parse(run.output, nullptr, false);
    REQUIRE_FALSE(doc.is_discarded());
    std::vector<std::string> ids;
    for (const auto& item : doc.at("items")) ids.push_back(item.at("id").get<std::string>());
    return sorted(ids);
}

/// `failpipe dashboard ...` as a child process (ended by its PID when the object ends), its URL
/// read from what it prints. A thread reads its output all along, so its logging never blocks it.
class DashboardProcess {
public:
    explicit DashboardProcess(std::vector<std::string> args) {
        int out[2];
        REQUIRE(::pipe(out) == 0);
        args.insert(args.begin(), std::string("dashboard"));
        args.insert(args.begin(), std::string(FAILPIPE_CLI));
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            ::dup2(out[1], STDOUT_FILENO);
            ::dup2(out[1], STDERR_FILENO);
            ::close(out[0]);
            ::close(out[1]);
            std::vector<char*> argv;
            for (auto& arg : args) argv.push_back(arg.data());
            argv.push_back(nullptr);
            ::execv(FAILPIPE_CLI, argv.data());
            ::_exit(127);
        }
        ::close(out[1]);
        reader_ = std::thread([this, fd = out[0]] {
            char buffer[4096];
            ssize_t n = 0;
            while ((n = ::read(fd, buffer, sizeof buffer)) > 0) {
                std::lock_guard lock(mutex_);
                output_.append(buffer, static_cast<std::size_t>(n));
            }
            ::close(fd);  // EOF: the process ended
        });
        if (!wait_for_url()) {
            end();
            FAIL("failpipe dashboard printed no http://127.0.0.1:PORT URL within 15 s; it printed: " << output());
        }
    }
    DashboardProcess(const DashboardProcess&) = delete;
    DashboardProcess& operator=(const DashboardProcess&) = delete;
    ~DashboardProcess() { end(); }

    int port() const noexcept { return port_; }
    std::string base() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
    std::string output() const {
        std::lock_guard lock(mutex_);
        return output_;
    }

private:
    void end() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            const auto give_up = std::chrono::steady_clock::now() + 5s;
            while (::waitpid(pid_, nullptr, WNOHANG) == 0) {
                if (std::chrono::steady_clock::now() > give_up) {
                    ::kill(pid_, SIGKILL);
                    ::waitpid(pid_, nullptr, 0);
                    break;
                }
                std::this_thread::sleep_for(10ms);
            }
            pid_ = -1;
        }
        if (reader_.joinable()) reader_.join();  // the pipe's writer is gone: EOF
    }

    bool wait_for_url() {
        const auto give_up = std::chrono::steady_clock::now() + 15s;
        const std::string marker = "http://127.0.0.1:";
        while (std::chrono::steady_clock::now() < give_up) {
            const std::string text = output();
            if (const auto at = text.find(marker); at != std::string::npos) {
                const auto digits = text.find_first_not_of("0123456789", at + marker.size());
                if (digits != std::string::npos && digits > at + marker.size()) {
                    port_ = std::stoi(text.substr(at + marker.size(), digits - at - marker.size()));
                    return true;
                }
            }
            if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
                pid_ = -1;
                return false;
            }
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }

    pid_t pid_ = -1;
    int port_ = 0;
    mutable std::mutex mutex_;
    std::string output_;
    std::thread reader_;
};

}  // namespace failpipe::browser_test
