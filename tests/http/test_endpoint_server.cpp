// EndpointServer over real loopback connections: content types, statuses, 404/405/413, a port in use.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>
#include <httplib.h>

#include "failpipe/failpipe.hpp"
#include "../eventually.hpp"
#include "../raw_http.hpp"
#include "health_probe_support.hpp"
#include "refused_senders.hpp"
#include "failpipe/http/endpoint_server.hpp"
#include "failpipe/memory/in_memory_adapter.hpp"
#include "failpipe/metrics.hpp"

using failpipe::http::EndpointServer;
using failpipe::http::EndpointServerOptions;
using failpipe::http::Reply;

namespace {

EndpointServerOptions on_any_port() {
    EndpointServerOptions options;
    options.listen = failpipe::ListenAddress::parse("127.0.0.1:0");
    options.metrics = [] { return Reply{200, "# TYPE failpipe_messages_total counter\nfailpipe_messages_total 3\n"}; };
    options.health = [] { return Reply{200, R"({"status":"healthy"})"}; };
    return options;
}

httplib::Client client_of(const EndpointServer& server) {
    httplib::Client client("127.0.0.1", server.address().port);
    client.set_connection_timeout(5);
    client.set_read_timeout(5);
    return client;
}

// A socket of this test listening on a free loopback port, closed on scope exit.
struct Listener {
    int fd = -1;
    std::uint16_t port = 0;
    Listener() {
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd >= 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        REQUIRE(::listen(fd, 1) == 0);
        socklen_t length = sizeof address;
        REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
        port = ntohs(address.sin_port);
    }
    ~Listener() { ::close(fd); }
};

}  // namespace

TEST_CASE("endpoint server: GET /metrics is Prometheus text and GET /health is JSON, from the callbacks") {
    EndpointServer server(on_any_port());
    CHECK(server.address().host == "127.0.0.1");
    CHECK(server.address().port != 0);
    auto client = client_of(server);
    auto metrics = client.Get("/metrics");
    REQUIRE(metrics);
    CHECK(metrics->status == 200);
    CHECK(metrics->get_header_value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
    CHECK(metrics->body.find("failpipe_messages_total 3") != std::string::npos);
    auto health = client.Get("/health");
    REQUIRE(health);
    CHECK(health->status == 200);
    CHECK(health->get_header_value("Content-Type") == "application/json");
    CHECK(health->body == R"({"status":"healthy"})");
}

TEST_CASE("endpoint server: /health answers with the callback's status (503 when unhealthy)") {
    std::atomic<bool> unhealthy{false};
    auto options = on_any_port();
    options.health = [&] {
        return unhealthy ? Reply{503, R"({"status":"unhealthy"})"} : Reply{200, R"({"status":"warning"})"};
    };
    EndpointServer server(std::move(options));
    auto client = client_of(server);
    CHECK(client.Get("/health")->status == 200);
    unhealthy = true;
    auto reply = client.Get("/health");
    REQUIRE(reply);
    CHECK(reply->status == 503);
    CHECK(reply->body == R"({"status":"unhealthy"})");
}

TEST_CASE("endpoint server: unknown paths are 404, other methods 405, a large body 413, a throwing callback 500") {
    auto options = on_any_port();
    options.max_request_bytes = 1024;
    options.health = []() -> Reply { throw std::runtime_error("broker unreachable"); };
    EndpointServer server(std::move(options));
    auto client = client_of(server);
    CHECK(client.Get("/")->status == 404);
    CHECK(client.Get("/metrics/extra")->status == 404);
    auto post = client.Post("/metrics", "x", "text/plain");
    REQUIRE(post);
    CHECK(post->status == 405);
    CHECK(post->get_header_value("Allow") == "GET, HEAD");
    CHECK(client.Delete("/health")->status == 405);
    auto head = client.Head("/metrics");
    REQUIRE(head);
    CHECK(head->status == 200);
    CHECK(head->body.empty());
    CHECK(client.Post("/elsewhere", "x", "text/plain")->status == 404);
    auto large = client.Post("/metrics", std::string(64 * 1024, 'x'), "text/plain");
    REQUIRE(large);
    CHECK(large->status == 413);
    CHECK(large->body == "request body too large\n");
    auto failing = client.Get("/health");
    REQUIRE(failing);
    CHECK(failing->status == 500);
    CHECK(failing->body.find("broker") == std::string::npos);  // the cause is logged, not served
}

TEST_CASE("endpoint server: a port in use is a clear error at start") {
    Listener taken;
    auto options = on_any_port();
    options.listen.port = taken.port;
    CHECK_THROWS_WITH_AS(EndpointServer{std::move(options)},
                         ("http: cannot listen on 127.0.0.1:" + std::to_string(taken.port) +
                          ": the port is in use by another process")
                             .c_str(),
                         failpipe::http::EndpointServerError);
}

TEST_CASE("endpoint server: a non-loopback address needs allow_non_loopback") {
    auto options = on_any_port();
    options.listen = failpipe::ListenAddress::parse("0.0.0.0:0");
    CHECK_THROWS_WITH_AS(EndpointServer{options}, doctest::Contains("not a loopback address"),
                         failpipe::InvalidArgumentError);
    options.allow_non_loopback = true;
    EndpointServer server(std::move(options));
    CHECK(server.address().port != 0);
}

TEST_CASE("endpoint server: destroyed, it stops serving and frees its port") {
    std::uint16_t port = 0;
    {
        EndpointServer server(on_any_port());
        port = server.address().port;
        CHECK(client_of(server).Get("/metrics")->status == 200);
    }
    auto options = on_any_port();
    options.listen.port = port;
    EndpointServer again(std::move(options));  // the port is free again
    CHECK(again.address().port == port);
}

TEST_CASE("endpoint server: a pool's /health goes healthy, then warning on a dead letter, then 503 once no thread is alive") {
    auto adapter = std::make_shared<failpipe::InMemoryAdapter>();
    failpipe::WorkerOptions worker;
    worker.channels = {"orders"};
    worker.wait = std::chrono::milliseconds(5);
    failpipe::WorkerPoolOptions pool_options;
    pool_options.threads = 2;
    failpipe::WorkerPool pool(adapter, failpipe::FailureMiddlewareDispatcher{}, failpipe::Classifier{}, worker,
                              pool_options);
    auto metrics = std::make_shared<failpipe::Metrics>();
    pool.observe(metrics);
    metrics->add_collector([&pool](failpipe::PrometheusWriter& writer) { pool.write_gauges(writer); });
    std::atomic<int> calls{0};
    pool.on("order", [&](const failpipe::Message& message, failpipe::HandlerContext&) {
        ++calls;
        if (message.data.at("bad").get<bool>()) throw failpipe::PermanentError("invalid card");
    });

    auto options = on_any_port();
    options.metrics = [&] { return Reply{200, metrics->to_prometheus()}; };
    options.health = [&] {
        const auto facts = pool.health_facts();
        failpipe::HealthOptions health;
        health.channels = {"orders"};
        const auto report = failpipe::check_health(adapter, health, &facts);
        return Reply{report.status == failpipe::HealthStatus::unhealthy ? 503 : 200, report.to_json()};
    };
    EndpointServer server(std::move(options));
    auto client = client_of(server);
    auto status_of = [&](const httplib::Result& reply) { return nlohmann::json::parse(reply->body).at("status"); };

    pool.start();
    REQUIRE(failpipe::test::eventually([&] { return pool.status().threads_alive == 2; }));
    adapter->push("orders", failpipe::Message::create("order", {{"bad", false}}));
    REQUIRE(failpipe::test::eventually([&] { return calls.load() == 1; }));
    auto healthy = client.Get("/health");
    REQUIRE(healthy);
    CHECK(healthy->status == 200);
    CHECK(status_of(healthy) == "healthy");

    adapter->push("orders", failpipe::Message::create("order", {{"bad", true}}));
    REQUIRE(failpipe::test::eventually([&] { return adapter->depth("orders:dlq").total() == 1; }));
    auto warning = client.Get("/health");
    REQUIRE(warning);
    CHECK(warning->status == 200);
    CHECK(status_of(warning) == "warning");
    auto page = client.Get("/metrics");
    REQUIRE(page);
    CHECK(page->body.find("failpipe_worker_threads{state=\"alive\"} 2") != std::string::npos);

    pool.request_stop();
    REQUIRE(pool.join_for(failpipe::Seconds{10.0}));
    auto unhealthy = client.Get("/health");
    REQUIRE(unhealthy);
    CHECK(unhealthy->status == 503);
    CHECK(status_of(unhealthy) == "unhealthy");
    CHECK(unhealthy->body.find("no worker thread alive") != std::string::npos);
}

TEST_CASE("endpoint server: a second server on the same port fails with the address - the first keeps every connection") {
    auto first_options = on_any_port();
    first_options.metrics = [] { return Reply{200, "first\n"}; };
    EndpointServer first(std::move(first_options));
    const std::uint16_t port = first.address().port;
    auto second_options = on_any_port();
    second_options.listen.port = port;
    second_options.metrics = [] { return Reply{200, "second\n"}; };
    // httplib's default SO_REUSEPORT would let the second bind too and take part of the connections.
    CHECK_THROWS_WITH_AS(EndpointServer{std::move(second_options)},
                         ("http: cannot listen on 127.0.0.1:" + std::to_string(port) +
                          ": the port is in use by another process")
                             .c_str(),
                         failpipe::http::EndpointServerError);
    int answered_by_first = 0;
    for (int i = 0; i < 20; ++i) {  // a new connection each time: each one could land on either socket
        auto client = client_of(first);
        auto reply = client.Get("/metrics");
        if (reply && reply->status == 200 && reply->body == "first\n") ++answered_by_first;
    }
    CHECK(answered_by_first == 20);
}

namespace {

using failpipe::test::send_raw;
using failpipe::test::RawReply;
using failpipe::test::request_line;

// A GET with a 1 MiB Content-Length and the body's first 64 KiB: the server must answer from the
// headers. (A client that insists on writing the whole 1 MiB may see the connection reset instead:
// the server closes without reading a body it refused.)
RawReply get_with_large_body(std::uint16_t port, const std::string& path) {
    return send_raw(port, request_line("GET", path, "Content-Type: text/plain\r\nContent-Length: " +
                                                        std::to_string(1024 * 1024) + "\r\n") +
                              std::string(64 * 1024, 'x'));
}

}  // namespace

TEST_CASE("endpoint server: a GET with a body above max_request_bytes is 413 - the server keeps serving") {
    auto options = on_any_port();
    options.max_request_bytes = 8192;
    EndpointServer server(std::move(options));
    for (const std::string path : {"/metrics", "/health"}) {
        CAPTURE(path);
        const RawReply reply = get_with_large_body(server.address().port, path);
        CHECK(reply.status() == 413);
        CHECK(reply.has("Connection: close"));
        CHECK(reply.body == "request body too large\n");
    }
    auto client = client_of(server);
    auto metrics = client.Get("/metrics");
    REQUIRE(metrics);
    CHECK(metrics->status == 200);
    CHECK(metrics->body.find("failpipe_messages_total 3") != std::string::npos);
    auto health = client.Get("/health");
    REQUIRE(health);
    CHECK(health->status == 200);
}

TEST_CASE("endpoint server: POST, PUT, PATCH, DELETE and OPTIONS without a body are 405 with Allow at once, unknown paths 404") {
    EndpointServer server(on_any_port());
    const auto port = server.address().port;
    for (const std::string path : {"/metrics", "/health"}) {
        for (const std::string method : {"POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
            CAPTURE(method + " " + path);
            const RawReply reply = send_raw(port, request_line(method, path));
            CHECK(reply.status() == 405);
            CHECK(reply.has("Allow: GET, HEAD"));
            CHECK(reply.body == "method not allowed\n");
            CHECK(reply.seconds < 1.5);  // not after the server's 2 s read timeout
        }
    }
    const RawReply elsewhere = send_raw(port, request_line("POST", "/elsewhere"));
    CHECK(elsewhere.status() == 404);
    CHECK(elsewhere.body == "not found\n");
    CHECK(elsewhere.seconds < 1.5);
    // With a small body, read and answered the same; HEAD is GET without the body.
    const RawReply with_body = send_raw(port, request_line("POST", "/metrics", "Content-Length: 2\r\n") + "{}");
    CHECK(with_body.status() == 405);
    CHECK(with_body.has("Allow: GET, HEAD"));
    const RawReply head = send_raw(port, request_line("HEAD", "/health"));
    CHECK(head.status() == 200);
    CHECK(head.body.empty());
}

TEST_CASE("endpoint server: a bad or absurd Content-Length is 400, a chunked body 413, a GET's small body closes the connection") {
    EndpointServer server(on_any_port());
    const auto port = server.address().port;
    for (const std::string length : {"abc", "-1", "99999999999999999999999", "5, 5"}) {
        for (const std::string method : {"POST", "GET"}) {
            CAPTURE(method + " with Content-Length \"" + length + "\"");
            const RawReply reply = send_raw(port, request_line(method, "/metrics", "Content-Length: " + length + "\r\n"));
            CHECK(reply.status() == 400);
            CHECK(reply.has("Connection: close"));
            CHECK(reply.body == "bad Content-Length: expected a number of bytes\n");
            CHECK(reply.seconds < 1.5);
        }
    }
    for (const std::string method : {"POST", "GET", "PUT"}) {
        CAPTURE(method + " chunked");
        const RawReply chunked =
            send_raw(port, request_line(method, "/health", "Transfer-Encoding: chunked\r\n") + "5\r\nhello\r\n0\r\n\r\n");
        CHECK(chunked.status() == 413);
        CHECK(chunked.has("Connection: close"));
        CHECK(chunked.seconds < 1.5);
    }
    // Served, but the unread body must not be taken for a next request on the same connection.
    const RawReply get_body = send_raw(port, request_line("GET", "/metrics", "Content-Length: 5\r\n") + "hello");
    CHECK(get_body.status() == 200);
    CHECK(get_body.has("Connection: close"));
    CHECK(get_body.body.find("failpipe_messages_total 3") != std::string::npos);
    auto client = client_of(server);
    CHECK(client.Get("/metrics")->status == 200);
}

namespace {

using failpipe::test::RawConnection;

constexpr const char* kHealthy = R"({"status":"healthy"})";

// `GET /health` with the field `Expect: <value>` and a 5-byte body, sent once the 100 came: a 100
// without a body, then the reply.
void continue_then_health(std::uint16_t port, const std::string& value) {
    CAPTURE(value);
    RawConnection connection(port);
    connection.send(request_line("GET", "/health", "Expect: " + value + "\r\nContent-Length: 5\r\n"));
    const RawReply go_on = connection.read_reply();
    CHECK(go_on.status() == 100);
    CHECK(go_on.body.empty());
    connection.send("hello");
    const RawReply reply = connection.read_reply();
    CHECK(reply.status() == 200);
    CHECK(reply.body == kHealthy);
}

}  // namespace

TEST_CASE("endpoint server: 12 connections declaring a 99999999999-byte body and never sending it are 413 at once and closed - /health answers meanwhile") {
    EndpointServer server(on_any_port());  // 4 threads
    const auto port = server.address().port;
    REQUIRE(send_raw(port, request_line("GET", "/health")).status() == 200);  // the pool's threads run
    const std::size_t threads = failpipe::test::threads_of_this_process();
    // Before: a POST, PUT, PATCH or DELETE held its thread while httplib waited for the body (2 s),
    // and every refused one held it for the keep-alive timeout (5 s) afterwards.
    const std::vector<std::string> methods{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    std::vector<std::unique_ptr<RawConnection>> hostile;
    for (std::size_t i = 0; i < 12; ++i) {
        hostile.push_back(std::make_unique<RawConnection>(port));
        hostile.back()->send(request_line(methods[i % methods.size()], i % 2 == 0 ? "/health" : "/metrics",
                                          "Content-Type: text/plain\r\nContent-Length: 99999999999\r\n"));
    }
    const RawReply health = send_raw(port, request_line("GET", "/health"));
    CHECK(health.status() == 200);
    CHECK(health.body == kHealthy);
    CHECK(health.seconds < 1.5);
    for (std::size_t i = 0; i < hostile.size(); ++i) {
        CAPTURE(methods[i % methods.size()]);
        const RawReply reply = hostile[i]->read_reply();
        CHECK(reply.status() == 413);
        CHECK(reply.has("Connection: close"));
        CHECK(reply.body == "request body too large\n");
        CHECK(hostile[i]->closed_by_server(1.0));  // its thread is free: nothing waits for the body
    }
    CHECK(send_raw(port, request_line("GET", "/metrics")).status() == 200);
    CHECK(failpipe::test::threads_of_this_process() == threads);
}

TEST_CASE("endpoint server: a body declared within max_request_bytes and never sent is not waited for - answered from the headers, then closed") {
    EndpointServer server(on_any_port());
    const auto port = server.address().port;
    std::vector<std::unique_ptr<RawConnection>> silent;
    for (const std::string method : {"POST", "PUT", "DELETE", "GET", "POST", "PUT", "DELETE", "GET"}) {
        silent.push_back(std::make_unique<RawConnection>(port));
        silent.back()->send(request_line(method, "/health", "Content-Length: 100\r\n"));
    }
    const RawReply health = send_raw(port, request_line("GET", "/health"));
    CHECK(health.status() == 200);
    CHECK(health.seconds < 1.5);  // not after the 2 s read timeout of the 4 threads' bodies
    for (auto& connection : silent) {
        const RawReply reply = connection->read_reply();
        CHECK((reply.status() == 405 || reply.status() == 200));
        CHECK(reply.has("Connection: close"));
        CHECK(connection->closed_by_server(1.0));
    }
}

TEST_CASE("endpoint server: an unknown method is 501 and closed, DELETE or PUT on /metrics and /health 405 with Allow, other paths 404 - GET works after") {
    EndpointServer server(on_any_port());
    const auto port = server.address().port;
    // cpp-httplib answered these a bare 400, then read their headers as further requests.
    for (const std::string line : {"BREW /health", "BREW /nowhere", "get /metrics", "PROPFIND /metrics"}) {
        CAPTURE(line);
        RawConnection connection(port);
        connection.send(line + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n");
        const RawReply reply = connection.read_reply();
        CHECK(reply.status() == 501);
        CHECK(reply.has("Connection: close"));
        CHECK(reply.body == "method not implemented\n");
        CHECK(connection.closed_by_server(1.0));  // one answer, the headers not read as requests
    }
    const RawReply garbled = send_raw(port, "GET/health HTTP/1.1\r\n\r\n");
    CHECK(garbled.status() == 400);
    CHECK(garbled.body == "bad request\n");
    for (const std::string method : {"DELETE", "PUT", "TRACE", "OPTIONS"}) {
        for (const std::string path : {"/metrics", "/health"}) {
            CAPTURE(method + " " + path);
            const RawReply reply = send_raw(port, request_line(method, path));
            CHECK(reply.status() == 405);
            CHECK(reply.has("Allow: GET, HEAD"));
            CHECK(reply.body == "method not allowed\n");
        }
    }
    for (const std::string method : {"DELETE", "PUT", "GET"}) {
        CAPTURE(method);
        const RawReply reply = send_raw(port, request_line(method, "/nowhere"));
        CHECK(reply.status() == 404);
        CHECK(reply.body == "not found\n");
    }
    // A 405 without a body keeps its connection: the next request on it is served.
    RawConnection kept(port);
    kept.send(request_line("PUT", "/health"));
    CHECK(kept.read_reply().status() == 405);
    kept.send(request_line("GET", "/health"));
    const RawReply after = kept.read_reply();
    CHECK(after.status() == 200);
    CHECK(after.body == kHealthy);
}

TEST_CASE("endpoint server: Expect 100-continue with a body over max_request_bytes is 413 at once without a 100, and closed - a refused route too") {
    EndpointServer server(on_any_port());  // 8 KiB
    const auto port = server.address().port;
    const std::string expect = "Expect: 100-continue\r\n";
    // cpp-httplib sent `100 Continue` first, inviting the client to send the megabyte it then refused.
    for (const std::string method : {"GET", "POST", "PUT"}) {
        CAPTURE(method);
        RawConnection connection(port);
        connection.send(request_line(method, "/health", expect + "Content-Length: 1048576\r\n"));
        const RawReply reply = connection.read_reply();
        CHECK(reply.status() == 413);
        CHECK(reply.has("Connection: close"));
        CHECK(reply.body == "request body too large\n");
        CHECK(reply.seconds < 1.5);
        CHECK(connection.closed_by_server(1.0));  // no second reply, nothing waits for the body
    }
    // Refused from the headers for another reason (405, 404): no 100 either.
    for (const auto& [line, status] : {std::pair<std::string, int>{"POST /metrics", 405}, {"POST /elsewhere", 404}}) {
        CAPTURE(line);
        RawConnection connection(port);
        connection.send(line + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + expect + "Content-Length: 100\r\n\r\n");
        const RawReply reply = connection.read_reply();
        CHECK(reply.status() == status);
        CHECK(reply.has("Connection: close"));
        CHECK(connection.closed_by_server(1.0));
    }
    CHECK(send_raw(port, request_line("GET", "/health")).status() == 200);
}

TEST_CASE("endpoint server: Expect 100-continue with an acceptable request gets 100, then the reply") {
    EndpointServer server(on_any_port());
    const auto port = server.address().port;
    continue_then_health(port, "100-continue");
    // Without a body, the same: 100, then the reply, and the connection serves a next request.
    RawConnection kept(port);
    kept.send(request_line("GET", "/metrics", "Expect: 100-continue\r\n"));
    CHECK(kept.read_reply().status() == 100);
    const RawReply metrics = kept.read_reply();
    CHECK(metrics.status() == 200);
    CHECK(metrics.body.find("failpipe_messages_total 3") != std::string::npos);
    kept.send(request_line("GET", "/health"));
    CHECK(kept.read_reply().status() == 200);
}

// RFC 9110 §10.1.1: the Expect field value is case-insensitive. cpp-httplib matched the exact bytes
// `100-continue`: a client writing `100-Continue` got no 100 and waited for it (curl: 1 s) before
// sending its body. An HTTP/1.0 client knows no 1xx answer: its expectation is ignored.
TEST_CASE("endpoint server: Expect 100-continue in any letter case gets 100, then the reply - an HTTP/1.0 request's is ignored") {
    EndpointServer server(on_any_port());
    const auto port = server.address().port;
    for (const std::string value : {"100-Continue", "100-CONTINUE", " 100-continue ", "100-continue, 100-Continue"})
        continue_then_health(port, value);
    RawConnection old(port);
    old.send("GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n\r\n");
    const RawReply reply = old.read_reply();
    CHECK(reply.status() == 200);  // straight away, no 100 before it
    CHECK(reply.body == kHealthy);
}

// Any other expectation is one this server cannot meet: 417 from the headers (RFC 9110 §10.1.1),
// the endpoint not called, the body sent along not read as a next request.
TEST_CASE("endpoint server: an Expect other than 100-continue is 417 and closed without calling the endpoint - GET works after") {
    auto calls = std::make_shared<std::atomic<int>>(0);
    auto options = on_any_port();
    options.health = [calls] {
        ++*calls;
        return Reply{200, kHealthy};
    };
    EndpointServer server(std::move(options));
    const auto port = server.address().port;
    const std::vector<std::string> fields{"Expect: 200-ok\r\n", "Expect: 100-continue, x-more\r\n",
                                          "Expect: 100-continue=1\r\n", "Expect: 100-continue\r\nExpect: x-more\r\n",
                                          "Expect: x-more\r\nExpect: 100-continue\r\n"};
    for (const auto& field : fields) {
        CAPTURE(field);
        RawConnection connection(port);
        // A body that reads as a request: it must not be served as a next one.
        const std::string body = request_line("GET", "/health");
        connection.send(request_line("GET", "/health", field + "Content-Length: " + std::to_string(body.size()) + "\r\n") +
                        body);
        const RawReply reply = connection.read_reply();
        CHECK(reply.status() == 417);
        CHECK(reply.head.rfind("HTTP/1.1 417 ", 0) == 0);  // the final answer, no 100 before it
        CHECK(reply.has("Connection: close"));
        CHECK(reply.body == "expectation failed: the only expectation served is Expect: 100-continue\n");
        CHECK(connection.closed_by_server(1.0));
    }
    CHECK(*calls == 0);
    const RawReply after = send_raw(port, request_line("GET", "/health"));
    CHECK(after.status() == 200);
    CHECK(*calls == 1);
}

// A reply that closes its connection lingers, reading what the client still sends (up to 2 s), so
// that a client writing a refused body sees the reply and not a reset. Clients that kept sending
// held their threads the whole 2 s: as many of them as threads held every other request up.
TEST_CASE("endpoint server: as many refused clients as threads that keep sending their body do not hold up a request - their linger yields to it") {
    auto options = on_any_port();
    options.threads = 2;
    EndpointServer server(std::move(options));
    const auto port = server.address().port;
    RawReply health;
    {
        const failpipe::test::RefusedSenders senders(port, 2, request_line("GET", "/health", "Content-Length: 1048576\r\n"), 413);
        std::this_thread::sleep_for(std::chrono::milliseconds(200));  // both threads linger, reading
        health = send_raw(port, request_line("GET", "/health"));
    }
    CHECK(health.status() == 200);
    CHECK(health.body == kHealthy);
    CHECK(health.seconds < 1.0);  // the linger's bound is 2 s
}

TEST_CASE("endpoint server: as many idle keep-alive connections as threads do not hold up a request - one of them is closed for it") {
    auto options = on_any_port();
    options.threads = 4;
    EndpointServer server(std::move(options));
    const auto port = server.address().port;
    // Each idle connection held its thread for the 5 s keep-alive timeout: the request waited for one.
    std::vector<std::unique_ptr<RawConnection>> idle;
    for (int i = 0; i < 4; ++i) {
        idle.push_back(std::make_unique<RawConnection>(port));
        idle.back()->send(request_line("GET", "/metrics"));
        const RawReply reply = idle.back()->read_reply();
        REQUIRE(reply.status() == 200);
        REQUIRE_FALSE(reply.has("Connection: close"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // all four wait for a next request
    const RawReply health = send_raw(port, request_line("GET", "/health"));
    CHECK(health.status() == 200);
    CHECK(health.body == kHealthy);
    CHECK(health.seconds < 1.0);  // well under the keep-alive timeout
    // Only as many idle connections as requests waited were closed: the others still serve.
    int served = 0;
    for (auto& connection : idle) {
        connection->try_send(request_line("GET", "/health"));
        served += connection->read_reply().status() == 200 ? 1 : 0;
    }
    CHECK(served == 3);
}
