// The dashboard's server against hostile HTTP: bodies declared and never sent (or trickled), and
// methods it does not take or know, over raw loopback connections.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dashboard_cases.hpp"
#include "failpipe/memory/in_memory_adapter.hpp"
#include "http/health_probe_support.hpp"
#include "http/refused_senders.hpp"
#include "raw_http.hpp"

namespace {

using namespace failpipe;
using nlohmann::json;
using test::RawConnection;
using test::RawReply;

const std::string kTokenHeader = std::string("X-Failpipe-Token: ") + dashboard_cases::kToken + "\r\n";
const std::string kJson = "Content-Type: application/json\r\n";

json error_of(const RawReply& reply) { return json::parse(reply.body, nullptr, false); }

}  // namespace

TEST_CASE("dashboard memory: 12 connections declaring a 99999999999-byte body and never sending it are 413 at once and closed - the API answers meanwhile, nothing moved") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    adapter->push("orders:dlq", Message::create("order", 1));
    dashboard_cases::Running dash(adapter);  // 8 threads
    REQUIRE(test::send_raw(dash.port, test::request_line("GET", "/api/info", "", dash.host())).status() == 200);
    const std::size_t threads = test::threads_of_this_process();
    // Before: with the token, httplib read and discarded the declared length before its 413 (a
    // thread held until the 5 s read timeout); every refusal held its thread for the keep-alive
    // timeout afterwards.
    const std::vector<std::pair<std::string, std::string>> requests{
        {"POST", "/api/replay"}, {"POST", "/api/purge"}, {"GET", "/api/overview"}, {"POST", "/api/replay"}};
    std::vector<std::unique_ptr<RawConnection>> hostile;
    for (std::size_t i = 0; i < 12; ++i) {
        const auto& [method, path] = requests[i % requests.size()];
        hostile.push_back(std::make_unique<RawConnection>(dash.port));
        hostile.back()->send(test::request_line(method, path, kTokenHeader + kJson + "Content-Length: 99999999999\r\n",
                                                dash.host()));
    }
    const RawReply info = test::send_raw(dash.port, test::request_line("GET", "/api/info", "", dash.host()));
    CHECK(info.status() == 200);
    CHECK(info.seconds < 1.5);
    for (std::size_t i = 0; i < hostile.size(); ++i) {
        CAPTURE(requests[i % requests.size()].second);
        const RawReply reply = hostile[i]->read_reply();
        CHECK(reply.status() == 413);
        CHECK(reply.has("Connection: close"));
        const std::string error = error_of(reply).value("error", "");
        CHECK(error.find("request body too large") == 0);
        if (requests[i % requests.size()].first == "POST")
            CHECK(error == "request body too large: at most 524288 bytes, found a Content-Length of 99999999999");
        CHECK(hostile[i]->closed_by_server(1.0));
    }
    CHECK(test::threads_of_this_process() == threads);
    CHECK(adapter->depth("orders:dlq").total() == 1);
}

TEST_CASE("dashboard memory: an action body that never arrives, or trickles in, is dropped 5 s after the request began - the API answers meanwhile, nothing moved") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    adapter->push("orders:dlq", Message::create("order", 1));
    dashboard_cases::Running dash(adapter);
    const std::string head =
        test::request_line("POST", "/api/purge", kTokenHeader + kJson + "Content-Length: 100\r\n", dash.host());
    RawConnection silent(dash.port);
    silent.send(head);
    RawConnection trickling(dash.port);
    trickling.send(head + "{");
    const auto start = std::chrono::steady_clock::now();
    // One byte every 200 ms: httplib's read timeout (5 s per read) would wait for all 100 of them.
    bool ended = false;
    for (int i = 0; i < 60 && !ended; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        ended = !trickling.try_send(" ");
        if (i == 0) {
            const RawReply info = test::send_raw(dash.port, test::request_line("GET", "/api/info", "", dash.host()));
            CHECK(info.status() == 200);
            CHECK(info.seconds < 1.5);
        }
    }
    for (RawConnection* connection : {&silent, &trickling}) {
        const RawReply reply = connection->read_reply();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        CHECK(reply.status() == 400);
        CHECK(reply.has("Connection: close"));
        CHECK(error_of(reply).value("error", "") == "request refused");
        CHECK(seconds > 4.0);
        CHECK(seconds < 9.0);
        CHECK(connection->closed_by_server(1.0));
    }
    CHECK(adapter->depth("orders:dlq").total() == 1);
}

TEST_CASE("dashboard memory: an unknown method is 501 in JSON and closed, wrong methods 405 with Allow, unknown paths 404 - GET works after") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    adapter->push("orders:dlq", Message::create("order", 1));
    dashboard_cases::Running dash(adapter);
    for (const std::string line : {"BREW /api/overview", "PROPFIND /api/replay", "get /"}) {
        CAPTURE(line);
        RawConnection connection(dash.port);
        connection.send(line + " HTTP/1.1\r\nHost: " + dash.host() + "\r\n" + kTokenHeader + "\r\n");
        const RawReply reply = connection.read_reply();
        CHECK(reply.status() == 501);
        CHECK(reply.has("Connection: close"));
        const json error = error_of(reply);
        CHECK(error.value("status", 0) == 501);
        CHECK(error.value("error", "") == "unknown method " + line.substr(0, line.find(' ')) +
                                              ": the dashboard answers GET and HEAD, and POST on its actions");
        CHECK(connection.closed_by_server(1.0));
    }
    auto send = [&](const std::string& method, const std::string& path) {
        return test::send_raw(dash.port, test::request_line(method, path, kTokenHeader, dash.host()));
    };
    for (const std::string method : {"DELETE", "PUT", "TRACE"}) {
        CAPTURE(method);
        const RawReply action = send(method, "/api/replay");
        CHECK(action.status() == 405);
        CHECK(action.has("Allow: POST"));
        const RawReply read = send(method, "/api/overview");
        CHECK(read.status() == 405);
        CHECK(read.has("Allow: GET, HEAD"));
        const RawReply nowhere = send(method, "/api/nothing");
        CHECK(nowhere.status() == 404);
        CHECK(error_of(nowhere).value("kind", "") == "not-found");
    }
    const RawReply info = send("GET", "/api/info");
    CHECK(info.status() == 200);
    CHECK(error_of(info).is_object());
    CHECK(adapter->depth("orders:dlq").total() == 1);
}

TEST_CASE("dashboard memory: Expect 100-continue with an action body over 512 KiB or a wrong token is refused at once without a 100, and closed - nothing moved") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    adapter->push("orders:dlq", Message::create("order", 1));
    dashboard_cases::Running dash(adapter);
    const std::string expect = "Expect: 100-continue\r\n";
    // cpp-httplib sent `100 Continue` first, inviting the client to send the body it then refused.
    const std::vector<std::pair<std::string, int>> cases{
        {kTokenHeader + kJson + expect + "Content-Length: 1048576\r\n", 413},
        {"X-Failpipe-Token: wrong-token-0123456789abcdef\r\n" + kJson + expect + "Content-Length: 30\r\n", 401}};
    for (const auto& [headers, status] : cases) {
        CAPTURE(status);
        RawConnection connection(dash.port);
        connection.send(test::request_line("POST", "/api/purge", headers, dash.host()));
        const RawReply reply = connection.read_reply();
        CHECK(reply.status() == status);
        CHECK(reply.has("Connection: close"));
        CHECK(error_of(reply).value("status", 0) == status);
        CHECK(reply.seconds < 1.5);
        CHECK(connection.closed_by_server(1.0));
    }
    CHECK(adapter->depth("orders:dlq").total() == 1);
}

TEST_CASE("dashboard memory: Expect 100-continue with an acceptable action body gets 100, then the action's reply") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    adapter->push("orders:dlq", Message::create("order", 1));
    dashboard_cases::Running dash(adapter);
    const std::string body = R"({"channel": "orders", "dryRun": true})";
    RawConnection connection(dash.port);
    connection.send(test::request_line("POST", "/api/replay",
                                       kTokenHeader + kJson + "Expect: 100-continue\r\nContent-Length: " +
                                           std::to_string(body.size()) + "\r\n",
                                       dash.host()));
    CHECK(connection.read_reply().status() == 100);
    connection.send(body);
    const RawReply reply = connection.read_reply();
    CHECK(reply.status() == 200);
    CHECK(error_of(reply).is_object());
    // The body was read whole: the connection serves a next request.
    connection.send(test::request_line("GET", "/api/info", "", dash.host()));
    CHECK(connection.read_reply().status() == 200);
    CHECK(adapter->depth("orders:dlq").total() == 1);
}

// RFC 9110 §10.1.1: the Expect field value is case-insensitive. cpp-httplib matched the exact bytes
// `100-continue`: a client writing `100-Continue` got no 100 and, waiting for it, sent no body (the
// request then timed out with 400).
TEST_CASE("dashboard memory: Expect 100-continue in any letter case gets 100 before an action's body, then the action's reply") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    adapter->push("orders:dlq", Message::create("order", 1));
    dashboard_cases::Running dash(adapter);
    const std::string body = R"({"channel": "orders", "dryRun": true})";
    for (const std::string value : {"100-Continue", "100-CONTINUE"}) {
        CAPTURE(value);
        RawConnection connection(dash.port);
        connection.send(test::request_line("POST", "/api/replay",
                                           kTokenHeader + kJson + "Expect: " + value + "\r\nContent-Length: " +
                                               std::to_string(body.size()) + "\r\n",
                                           dash.host()));
        const RawReply go_on = connection.read_reply();
        CHECK(go_on.status() == 100);
        CHECK(go_on.seconds < 1.5);
        connection.send(body);
        const RawReply reply = connection.read_reply();
        CHECK(reply.status() == 200);
        CHECK(error_of(reply).value("dryRun", false));
    }
    CHECK(adapter->depth("orders:dlq").total() == 1);
}

// Any other expectation is one the dashboard cannot meet: 417 in JSON from the headers, the action
// never run, even with the right token and the body sent along.
TEST_CASE("dashboard memory: an Expect other than 100-continue is 417 in JSON and closed without running the action - nothing moved") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    adapter->push("orders:dlq", Message::create("order", 1));
    dashboard_cases::Running dash(adapter);
    const std::string body = R"({"channel": "orders", "to": "orders"})";
    for (const std::string field : {"Expect: 200-ok\r\n", "Expect: 100-continue, x-more\r\n",
                                    "Expect: 100-continue\r\nExpect: x-more\r\n"}) {
        CAPTURE(field);
        RawConnection connection(dash.port);
        connection.send(test::request_line("POST", "/api/replay",
                                           kTokenHeader + kJson + field + "Content-Length: " +
                                               std::to_string(body.size()) + "\r\n",
                                           dash.host()) +
                        body);
        const RawReply reply = connection.read_reply();
        CHECK(reply.status() == 417);
        CHECK(reply.head.rfind("HTTP/1.1 417 ", 0) == 0);  // the final answer, no 100 before it
        CHECK(reply.has("Connection: close"));
        const json error = error_of(reply);
        CHECK(error.value("status", 0) == 417);
        CHECK(error.value("error", "").find("Expect: 100-continue") != std::string::npos);
        CHECK(connection.closed_by_server(1.0));
    }
    CHECK(adapter->depth("orders:dlq").total() == 1);  // no replay ran
    CHECK(adapter->depth("orders").total() == 0);
}

// A reply that closes its connection lingers, reading what the client still sends (up to 2 s).
// Clients that kept sending a refused body held their threads the whole 2 s: as many of them as
// threads held the API up.
TEST_CASE("dashboard memory: as many refused clients as threads that keep sending their body do not hold up the API - their linger yields to it") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    dashboard_cases::Running dash(adapter);  // 8 threads
    RawReply info;
    {
        const test::RefusedSenders senders(
            dash.port, 8,
            test::request_line("POST", "/api/purge", kTokenHeader + kJson + "Content-Length: 1048576\r\n", dash.host()), 413);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // all eight linger, reading
        info = test::send_raw(dash.port, test::request_line("GET", "/api/info", "", dash.host()));
    }
    CHECK(info.status() == 200);
    CHECK(info.seconds < 1.0);  // the linger's bound is 2 s
}

TEST_CASE("dashboard memory: as many idle keep-alive connections as threads do not hold up the API - one of them is closed for it") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    dashboard_cases::Running dash(adapter);  // 8 threads
    // Each idle connection held its thread for the 5 s keep-alive timeout: the request waited for one.
    std::vector<std::unique_ptr<RawConnection>> idle;
    for (int i = 0; i < 8; ++i) {
        idle.push_back(std::make_unique<RawConnection>(dash.port));
        idle.back()->send(test::request_line("GET", "/api/info", "", dash.host()));
        const RawReply reply = idle.back()->read_reply();
        REQUIRE(reply.status() == 200);
        REQUIRE_FALSE(reply.has("Connection: close"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // all eight wait for a next request
    const RawReply info = test::send_raw(dash.port, test::request_line("GET", "/api/info", "", dash.host()));
    CHECK(info.status() == 200);
    CHECK(info.seconds < 1.0);  // well under the keep-alive timeout
    int served = 0;
    for (auto& connection : idle) {
        connection->try_send(test::request_line("GET", "/api/info", "", dash.host()));
        served += connection->read_reply().status() == 200 ? 1 : 0;
    }
    CHECK(served == 7);
}
