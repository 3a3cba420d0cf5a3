// The dashboard's HTTP API checked over real loopback connections, written once and run on every
// adapter (test_dashboard_memory.cpp, test_dashboard_redis.cpp).
//
// A fixture F (default-constructible, one per test case) offers:
//   std::shared_ptr<AdapterInterface> make();   a fresh, empty adapter
//   void push_raw(AdapterInterface&, const std::string& channel, std::string bytes);   stores poison
// and FAILPIPE_DASHBOARD_CASES(F, "label", BIG) instantiates every check (BIG: the fixture of the
// 100,000-message test, which may want a server of its own).
#pragma once

#include <doctest/doctest.h>
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <atomic>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "dead_letters_cases.hpp"
#include "eventually.hpp"
#include "failpipe/config.hpp"
#include "failpipe/dashboard/dashboard_server.hpp"
#include "failpipe/dead_letters.hpp"
#include "failpipe/fingerprint.hpp"

namespace failpipe::dashboard_cases {

using nlohmann::json;
using dead_letter_cases::census;
using dead_letter_cases::mixed_seeds;
using dead_letter_cases::seed;
using dead_letter_cases::Seed;
using dead_letter_cases::sorted;

inline constexpr const char* kToken = "test-token-0123456789abcdef";

/// A dashboard on 127.0.0.1 (a free port) over @p adapter, and a client for it.
struct Running {
    std::shared_ptr<AdapterInterface> adapter;
    std::unique_ptr<dashboard::DashboardServer> server;
    std::uint16_t port = 0;
    std::unique_ptr<httplib::Client> client;

    explicit Running(std::shared_ptr<AdapterInterface> a) : adapter(std::move(a)) {
        dashboard::DashboardOptions options;
        start(std::move(options));
    }
    Running(std::shared_ptr<AdapterInterface> a, dashboard::DashboardOptions options) : adapter(std::move(a)) {
        start(std::move(options));
    }

    void start(dashboard::DashboardOptions options) {
        options.listen.port = 0;
        if (options.token.empty()) options.token = kToken;
        server = std::make_unique<dashboard::DashboardServer>(adapter, std::move(options));
        port = server->start();
        client = std::make_unique<httplib::Client>("127.0.0.1", port);
        client->set_read_timeout(std::chrono::seconds(30));
    }

    std::string host() const { return "127.0.0.1:" + std::to_string(port); }

    struct Answer {
        int status = 0;
        json body;
        std::string raw;
        httplib::Headers headers;
    };

    static Answer answer_of(const httplib::Result& result) {
        REQUIRE(result);
        Answer a;
        a.status = result->status;
        a.raw = result->body;
        a.headers = result->headers;
        a.body = json::parse(result->body, nullptr, false);
        return a;
    }

    Answer get(const std::string& path, const httplib::Params& params = {}) {
        return answer_of(client->Get(path, params, httplib::Headers{}));
    }
    Answer post(const std::string& path, const json& body, httplib::Headers headers = {{"X-Failpipe-Token", kToken}},
                const std::string& type = "application/json") {
        return answer_of(client->Post(path, headers, body.dump(), type));
    }
    /// Waits for job @p id to end (bounded) and returns its last state.
    json wait_job(const std::string& id) {
        json state;
        CHECK(test::eventually([&] {
            state = get("/api/job", {{"id", id}}).body;
            return state.value("state", "") != "running";
        }, std::chrono::seconds(60)));
        return state;
    }
};

inline std::vector<std::string> ids_in(const json& items) {
    std::vector<std::string> out;
    for (const auto& item : items) out.push_back(item.at("id").get<std::string>());
    return out;
}

inline std::vector<std::string> keys_of(const std::map<std::string, int>& census) {
    std::vector<std::string> out;
    for (const auto& [id, n] : census) out.push_back(id);
    return out;
}

inline std::string timeout_group() { return error_fingerprint("std::runtime_error", "timeout after 3012 ms"); }

template <class F>
void overview_counts_every_state() {
    F fixture;
    auto adapter = fixture.make();
    seed(*adapter, mixed_seeds());
    adapter->push("orders", Message::create("order", {{"n", 1}}));
    adapter->push("orders", Message::create("order", {{"n", 2}}));
    adapter->push("orders", Message::create("order", {{"n", 3}}), Seconds{3600.0});
    adapter->push("orders:parked", Message::create("order", {{"n", 4}}));
    adapter->push("mail", Message::create("mail", {{"n", 5}}));
    Running dash(adapter);
    const auto a = dash.get("/api/overview");
    REQUIRE(a.status == 200);
    json orders, mail;
    for (const auto& row : a.body["channels"]) {
        if (row["channel"] == "orders") orders = row;
        if (row["channel"] == "mail") mail = row;
    }
    REQUIRE(orders.is_object());
    CHECK(orders["ready"] == 2);
    CHECK(orders["delayed"] == 1);
    CHECK(orders["reserved"] == 0);
    CHECK(orders["dead"] == 6);
    CHECK(orders["parked"] == 1);
    CHECK(orders["evicted"] == 0);
    CHECK(mail["ready"] == 1);
    CHECK(mail["dead"] == 0);
    CHECK(a.body["health"]["status"] == "warning");  // dead letters wait
    CHECK(a.body["readOnly"] == false);
}

template <class F>
void filters_and_groups_return_the_right_rows() {
    F fixture;
    auto adapter = fixture.make();
    seed(*adapter, mixed_seeds());
    Running dash(adapter);
    auto rows = [&](httplib::Params params) {
        params.emplace("channel", "orders");
        const auto a = dash.get("/api/dead", params);
        REQUIRE(a.status == 200);
        return sorted(ids_in(a.body["items"]));
    };
    CHECK(rows({}) == std::vector<std::string>{"n1", "n2", "p1", "t1", "t2", "t3"});
    CHECK(rows({{"reason", "poison"}}) == std::vector<std::string>{"p1"});
    CHECK(rows({{"errorType", "app::NotFound"}}) == std::vector<std::string>{"n1", "n2"});
    CHECK(rows({{"class", "transient"}}) == std::vector<std::string>{"t1", "t2", "t3"});
    CHECK(rows({{"grep", "not (found|JSON)"}}) == std::vector<std::string>{"n1", "n2", "p1"});
    CHECK(rows({{"group", timeout_group()}}) == std::vector<std::string>{"t1", "t2", "t3"});
    CHECK(rows({{"since", "2026-03-02T00:00:00Z"}, {"until", "2026-03-04T00:00:00Z"}}) ==
          std::vector<std::string>{"n1", "t2", "t3"});
    CHECK(rows({{"reason", "failure"}, {"class", "permanent"}}) == std::vector<std::string>{"n1"});
    // Paging: two pages of 4 and 2, in arrival order, the first saying more follow.
    const auto first = dash.get("/api/dead", {{"channel", "orders"}, {"limit", "4"}});
    const auto second = dash.get("/api/dead", {{"channel", "orders"}, {"limit", "4"}, {"offset", "4"}});
    CHECK(ids_in(first.body["items"]) == std::vector<std::string>{"t1", "t2", "t3", "n1"});
    CHECK(first.body["more"] == true);
    CHECK(ids_in(second.body["items"]) == std::vector<std::string>{"n2", "p1"});
    CHECK(second.body["more"] == false);
    CHECK(dash.get("/api/count", {{"channel", "orders"}, {"class", "permanent"}}).body["count"] == 3);

    const auto groups = dash.get("/api/groups", {{"channel", "orders"}});
    REQUIRE(groups.status == 200);
    REQUIRE(groups.body["groups"].size() == 3);
    CHECK(groups.body["groups"][0]["fingerprint"] == timeout_group());
    CHECK(groups.body["groups"][0]["count"] == 3);
    CHECK(groups.body["groups"][0]["firstSeen"] == "2026-03-01T10:00:00.000Z");
    CHECK(groups.body["groups"][0]["lastSeen"] == "2026-03-03T10:00:00.000Z");
    CHECK(groups.body["groups"][1]["count"] == 2);
    CHECK(groups.body["groups"][1]["errorType"] == "app::NotFound");
    CHECK(groups.body["groups"][2]["count"] == 1);
}

template <class F>
void replay_of_a_group_moves_exactly_that_group() {
    F fixture;
    auto adapter = fixture.make();
    seed(*adapter, mixed_seeds());
    Running dash(adapter);
    const json request = {{"channel", "orders"}, {"filter", {{"group", timeout_group()}}}};
    json dry = request;
    dry["dryRun"] = true;
    const auto preview = dash.post("/api/replay", dry);
    REQUIRE(preview.status == 200);
    CHECK(preview.body["replayed"] == 3);
    CHECK(keys_of(census(*adapter, "orders:dlq")).size() == 6);  // a dry run moves nothing

    json run = request;
    run["rate"] = 1000.0;
    const auto started = dash.post("/api/replay", run);
    REQUIRE(started.status == 202);
    const json job = dash.wait_job(started.body["job"].get<std::string>());
    CHECK(job["state"] == "done");
    CHECK(job["result"]["replayed"] == 3);
    CHECK(job["done"] == 3);
    CHECK(keys_of(census(*adapter, "orders")) == std::vector<std::string>{"t1", "t2", "t3"});
    CHECK(keys_of(census(*adapter, "orders:dlq")) == std::vector<std::string>{"n1", "n2", "p1"});
}

template <class F>
void replay_of_selected_ids_moves_only_those() {
    F fixture;
    auto adapter = fixture.make();
    seed(*adapter, mixed_seeds());
    Running dash(adapter);
    const auto dry = dash.post("/api/replay", {{"channel", "orders"}, {"ids", {"n2", "t3"}}, {"dryRun", true}});
    REQUIRE(dry.status == 200);
    CHECK(dry.body["replayed"] == 2);
    const auto started = dash.post("/api/replay", {{"channel", "orders"}, {"ids", {"n2", "t3"}}});
    REQUIRE(started.status == 202);
    CHECK(dash.wait_job(started.body["job"].get<std::string>())["result"]["replayed"] == 2);
    CHECK(keys_of(census(*adapter, "orders")) == std::vector<std::string>{"n2", "t3"});
    CHECK(keys_of(census(*adapter, "orders:dlq")) == std::vector<std::string>{"n1", "p1", "t1", "t2"});
    // An id that is not a dead letter there: 404, and nothing moves (not even the good one).
    const auto unknown = dash.post("/api/replay", {{"channel", "orders"}, {"ids", {"t1", "no-such-id"}}});
    CHECK(unknown.status == 404);
    CHECK(unknown.body["error"].get<std::string>().find("no-such-id") != std::string::npos);
    CHECK(keys_of(census(*adapter, "orders:dlq")) == std::vector<std::string>{"n1", "p1", "t1", "t2"});
}

// A dead letter's origin is whatever its producer wrote: the dashboard replays it there only when the
// deployment knows the channel; else it is refused (counted, left in place) unless `to` names one.
template <class F>
void replay_refuses_a_forged_origin_unless_told_where() {
    F fixture;
    auto adapter = fixture.make();
    auto seeds = mixed_seeds();
    seeds[0].original_channel = "admin-commands";
    seed(*adapter, seeds);
    Running dash(adapter);
    const json both = {{"channel", "orders"}, {"ids", {"t1", "t2"}}};
    json dry = both;
    dry["dryRun"] = true;
    const auto preview = dash.post("/api/replay", dry);
    REQUIRE(preview.status == 200);
    CHECK(preview.body["replayed"] == 1);
    CHECK(preview.body["refused"] == 1);
    CHECK(preview.body["refusals"][0]["id"] == "t1");
    CHECK(preview.body["refusals"][0]["origin"] == "admin-commands");
    CHECK(preview.body["throughOutbox"].is_null());  // no shard groups: straight to their channel
    const auto started = dash.post("/api/replay", both);
    REQUIRE(started.status == 202);
    const json job = dash.wait_job(started.body["job"].get<std::string>());
    CHECK(job["result"]["replayed"] == 1);
    CHECK(job["result"]["refused"] == 1);
    CHECK(keys_of(census(*adapter, "orders")) == std::vector<std::string>{"t2"});
    CHECK(adapter->depth("admin-commands").total() == 0);
    CHECK(keys_of(census(*adapter, "orders:dlq")) == std::vector<std::string>{"n1", "n2", "p1", "t1", "t3"});
    // Named by the operator: trusted.
    const auto named = dash.post("/api/replay", {{"channel", "orders"}, {"ids", {"t1"}}, {"to", "orders-retry"}});
    REQUIRE(named.status == 202);
    CHECK(dash.wait_job(named.body["job"].get<std::string>())["result"]["replayed"] == 1);
    CHECK(keys_of(census(*adapter, "orders-retry")) == std::vector<std::string>{"t1"});
    // A dead-letter channel as `to`: 400, nothing moved.
    CHECK(dash.post("/api/replay", {{"channel", "orders"}, {"to", "orders:dlq"}}).status == 400);
    CHECK(dash.post("/api/replay", {{"channel", "orders"}, {"to", 5}}).status == 400);
    CHECK(keys_of(census(*adapter, "orders:dlq")).size() == 4);
}

template <class F>
void purge_needs_the_typed_channel_name() {
    F fixture;
    auto adapter = fixture.make();
    seed(*adapter, mixed_seeds());
    Running dash(adapter);
    const json request = {{"channel", "orders"}, {"filter", {{"class", "permanent"}}}};
    const auto missing = dash.post("/api/purge", request);
    CHECK(missing.status == 400);
    CHECK(missing.body["kind"] == "confirmation");
    CHECK(missing.body["error"].get<std::string>().find("type the channel name") != std::string::npos);
    json wrong = request;
    wrong["confirm"] = "order";
    CHECK(dash.post("/api/purge", wrong).status == 400);
    CHECK(census(*adapter, "orders:dlq").size() == 6);

    json dry = request;
    dry["dryRun"] = true;
    const auto preview = dash.post("/api/purge", dry);
    REQUIRE(preview.status == 200);
    CHECK(preview.body["matched"] == 3);
    CHECK(census(*adapter, "orders:dlq").size() == 6);

    json confirmed = request;
    confirmed["confirm"] = "orders";
    const auto started = dash.post("/api/purge", confirmed);
    REQUIRE(started.status == 202);
    const json job = dash.wait_job(started.body["job"].get<std::string>());
    CHECK(job["state"] == "done");
    CHECK(job["result"]["removed"] == 3);
    CHECK(keys_of(census(*adapter, "orders:dlq")) == std::vector<std::string>{"t1", "t2", "t3"});
}

template <class F>
void hostile_text_comes_back_as_escaped_json() {
    F fixture;
    auto adapter = fixture.make();
    const std::string script = "<script>alert(1)</script>";
    const std::string image = "\"><img src=x onerror=alert(1)>";
    Seed s;
    s.id = "xss";
    s.type = image;
    s.text = script;
    Message message = dead_letter_cases::dead_letter_message(s);
    message.data = {{"note", image}, {"html", script}};
    adapter->push("orders:dlq", message);
    fixture.push_raw(*adapter, "orders:dlq", std::string("\x01\xff") + "<script>x</script>\n");
    Running dash(adapter);
    const auto list = dash.get("/api/dead", {{"channel", "orders"}});
    REQUIRE(list.status == 200);
    CHECK(list.raw.find("<script") == std::string::npos);
    CHECK(list.raw.find("<img") == std::string::npos);
    CHECK(list.body["items"][0]["errorMessage"] == script);  // the text itself, unchanged
    CHECK(list.body["items"][0]["errorType"] == image);
    const auto detail = dash.get("/api/message", {{"channel", "orders"}, {"id", "xss"}});
    REQUIRE(detail.status == 200);
    CHECK(detail.raw.find("<") == std::string::npos);
    CHECK(detail.body["data"]["note"] == image);
    CHECK(std::string(httplib::detail::get_header_value(detail.headers, "Content-Type", 0, "")).find("application/json") == 0);
    CHECK(std::string(httplib::detail::get_header_value(detail.headers, "X-Content-Type-Options", 0, "")) == "nosniff");

    // The poison's bytes: escaped text and hex, never raw.
    const std::string poison_id = list.body["items"][1]["id"];
    CHECK(list.body["items"][1]["undecodable"] == true);
    const auto raw = dash.get("/api/message", {{"channel", "orders"}, {"id", poison_id}});
    REQUIRE(raw.status == 200);
    CHECK(raw.body["raw"]["text"] == "\\x01\\xff<script>x</script>\\x0a");
    CHECK(raw.body["raw"]["hex"].get<std::string>().rfind("01 ff 3c", 0) == 0);
    CHECK(raw.raw.find("<script") == std::string::npos);

    // The page builds its DOM with textContent only: no markup sink anywhere in its script.
    const auto script_asset = dash.client->Get("/app.js");
    REQUIRE(script_asset);
    CHECK(script_asset->status == 200);
    for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("})
        CHECK_MESSAGE(script_asset->body.find(sink) == std::string::npos, sink);
    const auto page = dash.client->Get("/");
    REQUIRE(page);
    CHECK(page->body.find("<script src=\"/app.js\"") != std::string::npos);
    CHECK(page->body.find("<script>") == std::string::npos);  // no inline script: CSP forbids it
    const std::string csp = page->get_header_value("Content-Security-Policy");
    CHECK(csp.find("default-src 'self'") != std::string::npos);
    CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
    CHECK(csp.find("unsafe-inline") == std::string::npos);
}

template <class F>
void refused_requests_move_nothing() {
    F fixture;
    auto adapter = fixture.make();
    seed(*adapter, mixed_seeds());
    Running dash(adapter);
    const json replay_all = {{"channel", "orders"}};
    // Wrong and missing token: 401.
    const auto wrong = dash.post("/api/replay", replay_all, {{"X-Failpipe-Token", "not-the-token-0000000000"}});
    CHECK(wrong.status == 401);
    CHECK(wrong.body["error"] == "wrong token");
    const auto missing = dash.post("/api/replay", replay_all, {});
    CHECK(missing.status == 401);
    CHECK(missing.body["error"].get<std::string>().find("X-Failpipe-Token") != std::string::npos);
    // A forged cross-site form: another Origin, a form body, no token: 403.
    const auto forged = dash.answer_of(dash.client->Post(
        "/api/purge", httplib::Headers{{"Origin", "http://evil.example"}}, "channel=orders&confirm=orders",
        "application/x-www-form-urlencoded"));
    CHECK(forged.status == 403);
    CHECK(forged.body["error"].get<std::string>().find("cross-site") != std::string::npos);
    // Even with the token, a cross-site fetch is refused.
    CHECK(dash.post("/api/replay", replay_all,
                    {{"X-Failpipe-Token", kToken}, {"Origin", "http://evil.example"}}).status == 403);
    CHECK(dash.post("/api/replay", replay_all,
                    {{"X-Failpipe-Token", kToken}, {"Sec-Fetch-Site", "cross-site"}}).status == 403);
    // Reads too: an <img> of another site firing a slow scan is refused before it runs.
    for (const char* site : {"cross-site", "same-site"}) {
        const auto scan = dash.answer_of(dash.client->Get("/api/count?channel=orders&grep=x",
                                                          httplib::Headers{{"Sec-Fetch-Site", site}}));
        CHECK(scan.status == 403);
        CHECK(scan.body["error"].get<std::string>().find("cross-site") != std::string::npos);
    }
    CHECK(dash.answer_of(dash.client->Get("/api/count?channel=orders&grep=x",
                                          httplib::Headers{{"Sec-Fetch-Site", "same-origin"}})).status == 200);
    // A chunked body (httplib would read it past the limit) and a GET with a body: refused unread.
    const auto chunked = dash.answer_of(dash.client->Post(
        "/api/purge", httplib::Headers{{"X-Failpipe-Token", kToken}, {"Transfer-Encoding", "chunked"}},
        std::string("4\r\n{}  \r\n0\r\n\r\n"), "application/json"));
    CHECK(chunked.status == 411);
    CHECK(chunked.body["error"].get<std::string>().find("chunked") != std::string::npos);
    const auto get_body = dash.answer_of(dash.client->Get("/api/overview", httplib::Headers{{"Content-Length", "5"}}));
    CHECK(get_body.status == 413);
    // Same origin but a form body: 415.
    CHECK(dash.post("/api/replay", replay_all, {{"X-Failpipe-Token", kToken}, {"Origin", "http://" + dash.host()}},
                    "text/plain").status == 415);
    // Another Host (a DNS-rebinding page): 403, even for reads.
    const auto rebound = dash.answer_of(dash.client->Get("/api/overview", httplib::Headers{{"Host", "evil.example"}}));
    CHECK(rebound.status == 403);
    // GET on an action: 405.
    const auto get_action = dash.client->Get("/api/replay");
    REQUIRE(get_action);
    CHECK(get_action->status == 405);
    CHECK(get_action->get_header_value("Allow") == "POST");
    // A body over the limit: 413.
    const auto huge = dash.answer_of(dash.client->Post("/api/replay", httplib::Headers{{"X-Failpipe-Token", kToken}},
                                                       std::string(1024 * 1024, ' '), "application/json"));
    CHECK(huge.status == 413);
    CHECK(census(*adapter, "orders:dlq").size() == 6);
    CHECK(census(*adapter, "orders").empty());
    // The same origin with the token: accepted.
    const auto ok = dash.post("/api/replay", {{"channel", "orders"}, {"dryRun", true}},
                              {{"X-Failpipe-Token", kToken}, {"Origin", "http://" + dash.host()}});
    CHECK(ok.status == 200);
}

template <class F>
void read_only_refuses_every_action() {
    F fixture;
    auto adapter = fixture.make();
    seed(*adapter, mixed_seeds());
    dashboard::DashboardOptions options;
    options.read_only = true;
    Running dash(adapter, options);
    CHECK(dash.get("/api/info").body["readOnly"] == true);
    for (const char* action : {"/api/replay", "/api/purge"}) {
        const auto a = dash.post(action, {{"channel", "orders"}, {"confirm", "orders"}});
        CHECK(a.status == 403);
        CHECK(a.body["kind"] == "read-only");
        CHECK(a.body["error"].get<std::string>().find("read-only") != std::string::npos);
    }
    CHECK(dash.get("/api/dead", {{"channel", "orders"}}).status == 200);  // reading still works
    CHECK(census(*adapter, "orders:dlq").size() == 6);
}

template <class F>
void bad_input_gets_a_clear_answer() {
    F fixture;
    auto adapter = fixture.make();
    seed(*adapter, mixed_seeds());
    Running dash(adapter);
    const auto regex = dash.get("/api/dead", {{"channel", "orders"}, {"grep", "timeout (after"}});
    CHECK(regex.status == 400);
    CHECK(regex.body["error"].get<std::string>().find("not a valid regular expression") != std::string::npos);
    const auto regex_post = dash.post("/api/replay", {{"channel", "orders"}, {"filter", {{"grep", "a)|(b"}}}});
    CHECK(regex_post.status == 400);
    const auto unknown = dash.get("/api/message", {{"channel", "orders"}, {"id", "no-such-id"}});
    CHECK(unknown.status == 404);
    CHECK(unknown.body["error"].get<std::string>().find("no-such-id") != std::string::npos);
    CHECK(dash.get("/api/dead", {}).status == 400);  // no channel
    CHECK(dash.get("/api/dead", {{"channel", "orders"}, {"since", "yesterday"}}).status == 400);
    CHECK(dash.get("/api/dead", {{"channel", "orders"}, {"limit", "-1"}}).status == 400);
    const auto cursor = dash.get("/api/dead", {{"channel", "orders"}, {"cursor", "not-a-cursor"}});
    CHECK(cursor.status == 400);
    CHECK(cursor.body["error"].get<std::string>().find("`cursor` is not one this dashboard gave") == 0);
    CHECK(cursor.body["error"].get<std::string>().find("Adapter") == std::string::npos);  // no internal names
    const auto error_class = dash.get("/api/dead", {{"channel", "orders"}, {"class", "transiant"}});
    CHECK(error_class.status == 400);
    CHECK(error_class.body["error"].get<std::string>().find("did you mean \"transient\"?") != std::string::npos);
    CHECK(dash.get("/api/job", {{"id", "nope"}}).status == 404);
    CHECK(dash.get("/api/nothing").status == 404);
    CHECK(dash.post("/api/replay", {{"channel", "orders"}, {"rate", -5}}).status == 400);
    CHECK(dash.answer_of(dash.client->Post("/api/replay", httplib::Headers{{"X-Failpipe-Token", kToken}}, "{not json",
                                           "application/json")).status == 400);
    CHECK(census(*adapter, "orders:dlq").size() == 6);
}

/// Options of a dashboard whose explain draws the pipelines of the config @p text.
inline dashboard::DashboardOptions with_pipelines_of(const char* text) {
    dashboard::DashboardOptions options;
    options.pipelines = std::make_shared<const FailureMiddlewareDispatcher::Options>(parse_config(text).dispatcher);
    return options;
}

template <class F>
void explain_draws_the_configured_pipeline() {
    F fixture;
    auto adapter = fixture.make();
    Running dash(adapter, with_pipelines_of(R"({"pipelines": {"orders": [
        {"type": "exponential-delay", "id": "backoff", "maxAttempts": 3, "delayInitial": 1, "delayMaximum": 60, "exponent": 2}]}})"));
    const auto a = dash.get("/api/explain", {{"channel", "orders"}, {"class", "transient"}});
    REQUIRE(a.status == 200);
    REQUIRE(a.body["steps"].size() == 4);
    CHECK(a.body["steps"][0]["action"] == "delay");
    CHECK(a.body["steps"][0]["delay"] == 1.0);
    CHECK(a.body["steps"][1]["delay"] == 2.0);
    CHECK(a.body["steps"][3]["action"] == "dead-letter");
    CHECK(a.body["steps"][3]["to"] == "orders:dlq");
    CHECK(dash.get("/api/explain", {{"channel", "orders"}, {"class", "bogus"}}).status == 400);
}

/// A time to live cuts the schedule as `failpipe explain --ttl` does: the retry due after it is the
/// delivery that finds the message expired (marked `expired`, no failure), and nothing follows it.
template <class F>
void explain_ends_at_the_expiry_of_a_ttl() {
    F fixture;
    auto adapter = fixture.make();
    dashboard::DashboardOptions options = with_pipelines_of(R"({"pipelines": {"orders": [
        {"type": "exponential-delay", "id": "b", "maxAttempts": 10, "delayInitial": 10, "delayMaximum": 100, "exponent": 2}]}})");
    Running dash(adapter, options);
    const auto whole = dash.get("/api/explain", {{"channel", "orders"}});
    REQUIRE(whole.status == 200);
    CHECK(whole.body["ttl"].is_null());
    REQUIRE(whole.body["steps"].size() == 11);
    for (const auto& step : whole.body["steps"]) CHECK(step["expired"] == false);
    CHECK(whole.body["steps"][10]["action"] == "dead-letter");

    // Failures at 0, 10 and 30 s; the retry due at 70 s finds the 60 s time to live ended.
    const auto cut = dash.get("/api/explain", {{"channel", "orders"}, {"ttl", "1m"}});
    REQUIRE(cut.status == 200);
    CHECK(cut.body["ttl"] == 60.0);
    const json& steps = cut.body["steps"];
    REQUIRE(steps.size() == 4);
    for (std::size_t i = 0; i < 3; ++i) {
        CHECK(steps[i] == whole.body["steps"][i]);
        CHECK(steps[i]["expired"] == false);
    }
    CHECK(steps[3]["expired"] == true);
    CHECK(steps[3]["failure"] == 4);  // the fourth delivery, as the CLI numbers it
    CHECK(steps[3]["middleware"] == "worker");
    CHECK(steps[3]["action"] == "dead-letter");
    CHECK(steps[3]["to"] == "orders:dlq");
    CHECK(steps[3]["elapsed"] == 70.0);
    CHECK(steps[3]["note"] == "expired: its time to live (60 s from the push) ended before this retry");

    // A time to live past the whole schedule changes nothing; the worker's onExpired decides a drop.
    const auto longer = dash.get("/api/explain", {{"channel", "orders"}, {"ttl", "2h"}});
    REQUIRE(longer.status == 200);
    CHECK(longer.body["steps"] == whole.body["steps"]);
    options.on_expired = ExpiredBehavior::drop;
    Running dropping(adapter, options);
    const auto dropped = dropping.get("/api/explain", {{"channel", "orders"}, {"ttl", "60"}});
    REQUIRE(dropped.body["steps"].size() == 4);
    CHECK(dropped.body["steps"][3]["expired"] == true);
    CHECK(dropped.body["steps"][3]["action"] == "drop");
    CHECK(dropped.body["steps"][3]["to"].is_null());
}

template <class F>
void rates_are_sampled_server_side() {
    F fixture;
    auto adapter = fixture.make();
    seed(*adapter, mixed_seeds());
    dashboard::DashboardOptions options;
    options.sample_interval = Seconds{0.02};
    options.samples = 50;  // a second of samples: the growth below stays in the window while the test looks
    Running dash(adapter, options);
    json rates;
    CHECK(test::eventually([&] {
        rates = dash.get("/api/rates").body;
        return rates["times"].size() >= 3;
    }));
    REQUIRE(rates["channels"].contains("orders"));
    CHECK(rates["channels"]["orders"]["dead"].back() == 6);
    // Dead letters arriving between samples show as growth per minute (the channel was empty before).
    seed(*adapter, {Seed{"late1"}, Seed{"late2"}}, "mail:dlq");
    CHECK(test::eventually([&] {
        rates = dash.get("/api/rates").body;
        return rates["deadPerMinute"].contains("mail") && rates["deadPerMinute"]["mail"].get<double>() > 0.0;
    }));
    CHECK(rates["times"].size() <= 50);
}

template <class F>
void stopping_during_a_replay_loses_nothing() {
    F fixture;
    auto adapter = fixture.make();
    std::vector<Seed> seeds;
    for (int i = 0; i < 400; ++i) seeds.push_back(Seed{"s" + std::to_string(1000 + i)});
    seed(*adapter, seeds);
    auto dash = std::make_unique<Running>(adapter);
    const auto started = dash->post("/api/replay", {{"channel", "orders"}, {"rate", 200.0}});
    REQUIRE(started.status == 202);
    const std::string job = started.body["job"];
    CHECK(test::eventually([&] { return dash->get("/api/job", {{"id", job}}).body.value("done", 0) > 0; }));
    const auto stop_start = std::chrono::steady_clock::now();
    dash->server->stop();  // cancels the job between two chunks
    CHECK(std::chrono::steady_clock::now() - stop_start < std::chrono::seconds(5));
    const auto replayed = census(*adapter, "orders");
    const auto waiting = census(*adapter, "orders:dlq");
    CHECK(replayed.size() > 0);
    CHECK(replayed.size() < 400);
    CHECK(replayed.size() + waiting.size() == 400);  // every message in exactly one place
    for (const auto& [id, n] : replayed) CHECK(n == 1);
    for (const auto& [id, n] : replayed) CHECK(waiting.count(id) == 0);
}

/// Fills 100,000 dead letters and pages through them: prints how long each page takes (no assertion on speed).
template <class F>
void paging_100k_dead_letters(const char* label) {
    F fixture;
    auto adapter = fixture.make();
    constexpr std::size_t kCount = 100'000;
    std::vector<OutgoingMessage> batch;
    const auto fill_start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < kCount; ++i) {
        Seed s;
        s.id = "m" + std::to_string(i);
        s.text = i % 10 == 0 ? "order " + std::to_string(i) + " not found" : "timeout after " + std::to_string(i) + " ms";
        s.type = i % 10 == 0 ? "app::NotFound" : "std::runtime_error";
        s.error_class = i % 10 == 0 ? "permanent" : "transient";
        batch.push_back(OutgoingMessage{"orders:dlq", dead_letter_cases::dead_letter_message(s), Seconds{0.0}});
        if (batch.size() == 1000) adapter->push_batch(std::exchange(batch, {}));
    }
    if (!batch.empty()) adapter->push_batch(std::move(batch));
    const double fill = std::chrono::duration<double>(std::chrono::steady_clock::now() - fill_start).count();
    Running dash(adapter);
    auto timed = [&](const std::string& what, const httplib::Params& params, const std::string& path = "/api/dead") {
        const auto start = std::chrono::steady_clock::now();
        const auto a = dash.get(path, params);
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        std::printf("dashboard %s 100k: %-40s %8.1f ms\n", label, what.c_str(), ms);
        return a;
    };
    std::printf("dashboard %s 100k: filled in %.1f s\n", label, fill);
    const auto first = timed("first page (50)", {{"channel", "orders"}, {"limit", "50"}});
    CHECK(first.body["items"].size() == 50);
    const auto middle = timed("page at offset 50,000", {{"channel", "orders"}, {"limit", "50"}, {"offset", "50000"}});
    CHECK(middle.body["items"][0]["id"] == "m50000");
    const auto last = timed("last page (offset 99,950)", {{"channel", "orders"}, {"limit", "50"}, {"offset", "99950"}});
    CHECK(last.body["items"].size() == 50);
    CHECK(last.body["more"] == false);
    // By cursor: walk to match 50,000 and 99,950 in big steps, then time the pages there.
    DeadLetters letters(adapter);
    DeadLetterFilter all;
    all.channel = "orders";
    BrowseCursor at_50k, at_last;
    for (std::size_t done = 0; done < 99'950; done += 9'995) {
        at_last = letters.list_after(all, at_last, 9'995).next;
        if (done + 9'995 == 49'975) at_50k = at_last;
    }
    const auto by_cursor = timed("page at cursor 49,975", {{"channel", "orders"}, {"limit", "50"}, {"cursor", at_50k}});
    CHECK(by_cursor.body["items"][0]["id"] == "m49975");
    const auto last_by_cursor = timed("last page by cursor (99,950)", {{"channel", "orders"}, {"limit", "50"}, {"cursor", at_last}});
    CHECK(last_by_cursor.body["items"].size() == 50);
    CHECK(last_by_cursor.body["more"] == false);
    const auto next_of_first = timed("second page by first's cursor", {{"channel", "orders"}, {"limit", "50"}, {"cursor", first.body["next"].template get<std::string>()}});
    CHECK(next_of_first.body["items"][0]["id"] == "m50");
    const auto filtered = timed("filtered first page (class permanent)", {{"channel", "orders"}, {"class", "permanent"}});
    CHECK(filtered.body["items"][1]["id"] == "m10");
    const auto deep = timed("filtered page at match 9,950 (last)", {{"channel", "orders"}, {"class", "permanent"}, {"offset", "9950"}});
    CHECK(deep.body["items"].size() == 50);
    CHECK(timed("count (no filter: depth)", {{"channel", "orders"}}, "/api/count").body["count"] == kCount);
    CHECK(timed("count class permanent (scan)", {{"channel", "orders"}, {"class", "permanent"}}, "/api/count").body["count"] == kCount / 10);
    const auto groups = timed("groups (full scan)", {{"channel", "orders"}}, "/api/groups");
    CHECK(groups.body["groups"].size() == 2);
    CHECK(timed("overview", {}, "/api/overview").body["channels"][0]["dead"] == kCount);
}

/// A slow grep holds a scan slot: beyond max_scans another scan is 429 at once, reads that do not
/// scan still answer, and the slow one still finishes with its count.
template <class F>
void scans_beyond_the_bound_are_refused() {
    F fixture;
    auto adapter = fixture.make();
    std::vector<dead_letter_cases::Seed> seeds(600);
    for (std::size_t i = 0; i < seeds.size(); ++i) {
        seeds[i].id = "slow" + std::to_string(i);
        seeds[i].text = std::string(600, 'a');  // with the grep below: backtracking, about a second in all
    }
    seed(*adapter, seeds);
    dashboard::DashboardOptions options;
    options.max_scans = 1;
    Running dash(adapter, options);
    Running::Answer slow_answer;
    std::atomic<bool> scan_done{false};
    std::thread scan([&] {  // its own connection: a client is not shared between threads
        httplib::Client own("127.0.0.1", dash.port);
        own.set_read_timeout(std::chrono::seconds(60));
        // A quick count of the loop below may hold the one slot for a moment: then try again.
        for (int attempt = 0; attempt < 1000 && (attempt == 0 || slow_answer.status == 429); ++attempt) {
            const auto result = own.Get("/api/count", {{"channel", "orders"}, {"grep", "((a|a|a|a|a|a|a|a|a|a)*){8}c"}},
                                        httplib::Headers{});
            slow_answer.status = result ? result->status : 0;
        }
        scan_done = true;
    });
    bool busy = false;
    std::string busy_error;
    // Until the slow scan ends (bounded: at most 6,000 tries).
    for (int attempt = 0; attempt < 6000 && !busy && !scan_done; ++attempt) {
        const auto other = dash.get("/api/count", {{"channel", "orders"}});
        if (other.status == 429) {
            busy = true;
            busy_error = other.body["error"].get<std::string>();
            CHECK(dash.get("/api/overview", {}).status == 200);
        } else {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    scan.join();
    CHECK(busy);
    CHECK(busy_error == "too many scans running, try again");
    CHECK(slow_answer.status == 200);
    CHECK(dash.get("/api/count", {{"channel", "orders"}, {"grep", "a"}}).body["count"] == 600);
}

/// An action's body must be exactly JSON: `application/json`, optionally `; charset=utf-8`.
template <class F>
void post_bodies_must_be_exactly_json() {
    F fixture;
    auto adapter = fixture.make();
    seed(*adapter, mixed_seeds());
    Running dash(adapter);
    const json dry = {{"channel", "orders"}, {"dryRun", true}};
    for (const char* type : {"application/json-seq", "application/jsonx", "application/json; charset=latin1",
                             "application/json; boundary=x", "application/json; charset=utf-8; x=y", "text/plain",
                             "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "json",
                             "application/javascript"}) {
        const auto a = dash.post("/api/replay", dry, {{"X-Failpipe-Token", kToken}}, type);
        CHECK_MESSAGE(a.status == 415, type);
        CHECK(a.body["error"].get<std::string>().find("expected Content-Type: application/json") == 0);
    }
    for (const char* type : {"application/json", "application/json; charset=utf-8", "Application/JSON; Charset=UTF-8",
                             "application/json;charset=\"utf-8\""})
        CHECK_MESSAGE(dash.post("/api/replay", dry, {{"X-Failpipe-Token", kToken}}, type).status == 200, type);
    CHECK(census(*adapter, "orders:dlq").size() == 6);
}

/// Every path the API does not have is a JSON 404; every method a path does not take a 405 with Allow.
template <class F>
void unknown_paths_and_methods_get_json_answers() {
    F fixture;
    auto adapter = fixture.make();
    seed(*adapter, mixed_seeds());
    Running dash(adapter);
    auto expect = [&](const httplib::Result& result, int status, const std::string& allow, const std::string& what) {
        REQUIRE_MESSAGE(result, what);
        CHECK_MESSAGE(result->status == status, what);
        CHECK_MESSAGE(result->get_header_value("Content-Type").find("application/json") == 0, what);
        const json body = json::parse(result->body, nullptr, false);
        CHECK_MESSAGE(body.value("status", 0) == status, what);
        CHECK_MESSAGE(result->get_header_value("Allow") == allow, what);
    };
    expect(dash.client->Get("/api/nothing"), 404, "", "GET /api/nothing");
    expect(dash.client->Get("/api/dead/extra?channel=orders"), 404, "", "GET /api/dead/extra");
    expect(dash.client->Post("/api/nothing", "{}", "application/json"), 404, "", "POST /api/nothing");
    expect(dash.client->Delete("/api/nothing"), 404, "", "DELETE /api/nothing");
    expect(dash.client->Get("/nothing.js"), 404, "", "GET /nothing.js");
    expect(dash.client->Get("/api/replay"), 405, "POST", "GET /api/replay");
    expect(dash.client->Put("/api/purge", "{}", "application/json"), 405, "POST", "PUT /api/purge");
    expect(dash.client->Delete("/api/purge"), 405, "POST", "DELETE /api/purge");
    expect(dash.client->Post("/api/dead", "{}", "application/json"), 405, "GET, HEAD", "POST /api/dead");
    expect(dash.client->Delete("/api/overview"), 405, "GET, HEAD", "DELETE /api/overview");
    expect(dash.client->Patch("/api/count", "{}", "application/json"), 405, "GET, HEAD", "PATCH /api/count");
    expect(dash.client->Options("/api/replay"), 405, "POST", "OPTIONS /api/replay");
    CHECK(census(*adapter, "orders:dlq").size() == 6);
}

/// A filter is read by the library's parser: unknown, repeated or zone-less parameters are a 400
/// naming them, in a query and in an action's body, and nothing moves.
template <class F>
void bad_filters_name_the_parameter_and_move_nothing() {
    F fixture;
    auto adapter = fixture.make();
    seed(*adapter, mixed_seeds());
    Running dash(adapter);
    auto error_of = [](const Running::Answer& a) { return a.body.value("error", std::string("(status ") + std::to_string(a.status) + ")"); };
    const auto unknown = dash.get("/api/dead", {{"channel", "orders"}, {"erorType", "x"}});
    CHECK(unknown.status == 400);
    CHECK(error_of(unknown).find("unknown filter parameter \"erorType\"") == 0);
    const auto twice = dash.answer_of(dash.client->Get("/api/count?channel=orders&reason=poison&reason=failure"));
    CHECK(twice.status == 400);
    CHECK(error_of(twice) == "reason is given twice (\"poison\" and \"failure\")");
    const auto zoneless = dash.get("/api/groups", {{"channel", "orders"}, {"since", "2026-03-01T10:00:00"}});
    CHECK(zoneless.status == 400);
    CHECK(error_of(zoneless).find("has no time zone: add Z for UTC") != std::string::npos);
    CHECK(dash.get("/api/dead", {{"channel", "orders"}, {"since", "2026-03-02T00:00:00.000Z"}}).body["items"].size() == 5);
    // In an action: a misspelt filter or field would otherwise widen it to every dead letter.
    const auto misspelt = dash.post("/api/purge", {{"channel", "orders"}, {"filter", {{"erorType", "x"}}}, {"confirm", "orders"}});
    CHECK(misspelt.status == 400);
    CHECK(error_of(misspelt).find("unknown filter parameter \"erorType\"") == 0);
    const auto field = dash.post("/api/purge", {{"channel", "orders"}, {"fitler", {{"reason", "poison"}}}, {"confirm", "orders"}});
    CHECK(field.status == 400);
    CHECK(error_of(field).find("unknown field `fitler` in the request body") == 0);
    const auto typed = dash.post("/api/replay", {{"channel", "orders"}, {"filter", {{"reason", 5}}}});
    CHECK(typed.status == 400);
    CHECK(error_of(typed) == "`filter.reason` must be a string");
    CHECK(dash.post("/api/replay", {{"channel", "orders"}, {"filter", {{"until", "1h"}, {"since", "2h"}}}, {"dryRun", true}}).status == 200);
    CHECK(census(*adapter, "orders:dlq").size() == 6);
    CHECK(census(*adapter, "orders").empty());
}

/// A number outside what a parameter takes is a 400 that says the range it takes (never "from 0" for
/// one that refuses 0), and a body number no double holds (1e400) is the caller's 400, not a 500.
template <class F>
void numbers_out_of_range_say_the_range() {
    F fixture;
    auto adapter = fixture.make();
    seed(*adapter, mixed_seeds());
    Running dash(adapter);
    auto error_of = [](const Running::Answer& a) { return a.body.value("error", std::string("(status ") + std::to_string(a.status) + ")"); };
    const auto limit0 = dash.get("/api/dead", {{"channel", "orders"}, {"limit", "0"}});
    CHECK(limit0.status == 400);
    CHECK(error_of(limit0) == "`limit` expects a whole number from 1 to 500, found \"0\"");
    CHECK(error_of(dash.get("/api/dead", {{"channel", "orders"}, {"limit", "501"}})) ==
          "`limit` expects a whole number from 1 to 500, found \"501\"");
    const auto failures0 = dash.get("/api/explain", {{"channel", "orders"}, {"failures", "0"}});
    CHECK(failures0.status == 400);
    CHECK(error_of(failures0) == "`failures` expects a whole number from 1 to 200, found \"0\"");
    const auto error_class = dash.get("/api/explain", {{"channel", "orders"}, {"class", "transiant"}});
    CHECK(error_class.status == 400);
    CHECK(error_of(error_class) == "`class` expected \"transient\", \"permanent\" or \"unknown\", found \"transiant\"; did you mean \"transient\"?");
    for (const char* body : {R"({"channel": "orders", "rate": 1e400})", R"({"channel": "orders", "limit": -1e400, "dryRun": true})"}) {
        const auto huge = dash.answer_of(dash.client->Post("/api/replay", httplib::Headers{{"X-Failpipe-Token", kToken}}, body,
                                                           "application/json"));
        CHECK_MESSAGE(huge.status == 400, body);
        CHECK_MESSAGE(huge.body.value("kind", "") == "request", body);
        CHECK_MESSAGE(error_of(huge).find("the request body holds a number out of range") == 0, body);
    }
    CHECK(census(*adapter, "orders:dlq").size() == 6);
    CHECK(census(*adapter, "orders").empty());
}

}  // namespace failpipe::dashboard_cases

#define FAILPIPE_DASHBOARD_CASE(F, label, name, what)                                   \
    TEST_CASE("dashboard " label ": " what) { failpipe::dashboard_cases::name<F>(); }

#define FAILPIPE_DASHBOARD_CASES(F, label, BIG)                                                                          \
    FAILPIPE_DASHBOARD_CASE(F, label, overview_counts_every_state, "overview counts ready, delayed, dead, parked")  \
    FAILPIPE_DASHBOARD_CASE(F, label, filters_and_groups_return_the_right_rows, "filters, paging and groups return the right rows") \
    FAILPIPE_DASHBOARD_CASE(F, label, replay_of_a_group_moves_exactly_that_group, "replay of a group moves exactly that group") \
    FAILPIPE_DASHBOARD_CASE(F, label, replay_of_selected_ids_moves_only_those, "replay of selected ids moves only those, unknown id 404") \
    FAILPIPE_DASHBOARD_CASE(F, label, replay_refuses_a_forged_origin_unless_told_where, "replay refuses a forged origin, counted and left in place, unless to names the channel") \
    FAILPIPE_DASHBOARD_CASE(F, label, purge_needs_the_typed_channel_name, "purge needs the typed channel name") \
    FAILPIPE_DASHBOARD_CASE(F, label, hostile_text_comes_back_as_escaped_json, "XSS payloads come back escaped, the page has no markup sink") \
    FAILPIPE_DASHBOARD_CASE(F, label, refused_requests_move_nothing, "wrong token 401, cross-site 403, GET on an action 405 - nothing moved") \
    FAILPIPE_DASHBOARD_CASE(F, label, scans_beyond_the_bound_are_refused, "a scan beyond max_scans is 429 while a slow grep runs") \
    FAILPIPE_DASHBOARD_CASE(F, label, read_only_refuses_every_action, "read-only refuses every action with 403") \
    FAILPIPE_DASHBOARD_CASE(F, label, bad_input_gets_a_clear_answer, "bad regex 400, unknown id 404, bad parameters 400") \
    FAILPIPE_DASHBOARD_CASE(F, label, post_bodies_must_be_exactly_json, "a POST body that is not exactly application/json is 415 - nothing moved") \
    FAILPIPE_DASHBOARD_CASE(F, label, unknown_paths_and_methods_get_json_answers, "unknown paths 404 and wrong methods 405 with Allow, in JSON") \
    FAILPIPE_DASHBOARD_CASE(F, label, bad_filters_name_the_parameter_and_move_nothing, "unknown, repeated or zone-less filter parameters 400 naming them - nothing moved") \
    FAILPIPE_DASHBOARD_CASE(F, label, explain_draws_the_configured_pipeline, "explain returns the pipeline's schedule") \
    FAILPIPE_DASHBOARD_CASE(F, label, explain_ends_at_the_expiry_of_a_ttl, "explain with a ttl ends at the delivery that finds the message expired, marked expired, nothing after it") \
    FAILPIPE_DASHBOARD_CASE(F, label, numbers_out_of_range_say_the_range, "a number out of range is a 400 saying the range, 1e400 in a body too - nothing moved") \
    FAILPIPE_DASHBOARD_CASE(F, label, rates_are_sampled_server_side, "rates are sampled server-side in a ring buffer") \
    FAILPIPE_DASHBOARD_CASE(F, label, stopping_during_a_replay_loses_nothing, "stopping during a replay loses and duplicates nothing") \
    TEST_CASE("dashboard " label ": paging 100,000 dead letters (timings printed)") {                                   \
        failpipe::dashboard_cases::paging_100k_dead_letters<BIG>(label);                                                \
    }
