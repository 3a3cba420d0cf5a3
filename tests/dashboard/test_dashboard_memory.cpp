// The dashboard's API on the in-memory adapter, plus what only needs one adapter: the config
// section, serve_dashboard() on a WorkerPool, and the DeadLetterFilter::ids the page's "replay
// selected" relies on.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "dashboard_cases.hpp"
#include "failpipe/memory/in_memory_adapter.hpp"
#include "failpipe/worker_pool.hpp"

namespace {

using namespace failpipe;
using nlohmann::json;

struct MemoryFixture {
    std::shared_ptr<AdapterInterface> make() { return std::make_shared<InMemoryAdapter>(); }
    void push_raw(AdapterInterface& adapter, const std::string& channel, std::string bytes) {
        dynamic_cast<InMemoryAdapter&>(adapter).push_raw(channel, std::move(bytes));
    }
};

int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    ::close(fd);
    return ntohs(address.sin_port);
}

}  // namespace

FAILPIPE_DASHBOARD_CASES(MemoryFixture, "memory", MemoryFixture)

TEST_CASE("dashboard memory: DeadLetterFilter ids selects exactly those dead letters") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    dead_letter_cases::seed(*adapter, dead_letter_cases::mixed_seeds());
    DeadLetters letters(adapter);
    DeadLetterFilter filter;
    filter.channel = "orders";
    filter.ids = {"t2", "p1", "absent"};
    CHECK(letters.count(filter) == 2);
    filter.ids = {"t2", "n1"};
    const ReplayResult result = letters.replay(filter);
    CHECK(dead_letter_cases::sorted(result.replayed) == std::vector<std::string>{"n1", "t2"});
    CHECK(dead_letter_cases::census(*adapter, "orders:dlq").size() == 4);
}

TEST_CASE("dashboard memory: config dashboard section is read and checked") {
    const Config config = parse_config(
        R"({"dashboard": {"listen": "127.0.0.1:8088", "readOnly": true, "tokenFile": "/run/secrets/t"}})");
    REQUIRE(config.dashboard.listen);
    CHECK(config.dashboard.listen->port == 8088);
    CHECK(config.dashboard.read_only);
    CHECK(config.dashboard.token_file == "/run/secrets/t");
    CHECK_FALSE(parse_config("{}").dashboard.listen);
    try {
        parse_config(R"({"dashboard": {"listen": "0.0.0.0:8088"}})");
        FAIL("a non-loopback dashboard.listen without allowNonLoopback was accepted");
    } catch (const ConfigError& e) {
        CHECK(std::string(e.what()).find("allowNonLoopback") != std::string::npos);
        CHECK(std::string(e.what()).find("/dashboard/listen") != std::string::npos);
    }
    CHECK(parse_config(R"({"dashboard": {"listen": "0.0.0.0:8088", "allowNonLoopback": true}})").dashboard.allow_non_loopback);
    CHECK_THROWS_AS(parse_config(R"({"dashboard": {"listn": "127.0.0.1:8088"}})"), ConfigError);
    CHECK_THROWS_AS(parse_config(R"({"dashboard": {"readOnly": "yes"}})"), ConfigError);
}

TEST_CASE("dashboard memory: serve_dashboard serves a worker pool's breakers and health") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    dead_letter_cases::seed(*adapter, dead_letter_cases::mixed_seeds());
    // Removed whatever happens, so a failing run leaves nothing behind.
    struct TokenFile {
        std::string path = (std::filesystem::temp_directory_path() / ("failpipe-dashboard-token-" + std::to_string(::getpid()))).string();
        TokenFile() { std::ofstream(path) << "  file-token-0123456789abcdef  \n"; }
        ~TokenFile() { std::remove(path.c_str()); }
    } file;
    const std::string& token_file = file.path;
    const Config config = parse_config(R"({"dashboard": {"listen": "127.0.0.1:)" + std::to_string(free_port()) +
                                       R"(", "tokenFile": ")" + token_file + R"("}, "worker": {"channels": ["orders"]},
        "breakers": {"payments-api": {"failureRatio": 0.5, "minimumCalls": 5, "window": 10, "openFor": 5}}})");
    WorkerPool pool(adapter, config);
    auto server = dashboard::serve_dashboard(pool, adapter, config);
    REQUIRE(server);
    CHECK(server->token() == "file-token-0123456789abcdef");
    httplib::Client client("127.0.0.1", server->address().port);
    const auto overview = client.Get("/api/overview");
    REQUIRE(overview);
    REQUIRE(overview->status == 200);
    const json body = json::parse(overview->body);
    CHECK(body["runtime"] == true);
    REQUIRE(body["breakers"].size() == 1);
    CHECK(body["breakers"][0]["name"] == "payments-api");
    CHECK(body["breakers"][0]["state"] == "closed");
    bool workers = false;
    for (const auto& c : body["health"]["components"]) workers = workers || c["name"] == "workers";
    CHECK(workers);  // the runtime's facts are in the health report
    const auto refused = client.Post("/api/replay", httplib::Headers{{"X-Failpipe-Token", dashboard_cases::kToken}},
                                     R"({"channel": "orders"})", "application/json");
    REQUIRE(refused);
    CHECK(refused->status == 401);  // the file's token, not another
    CHECK_FALSE(dashboard::serve_dashboard(pool, adapter, parse_config("{}")));
}

TEST_CASE("dashboard memory: a non-loopback address needs allow_non_loopback, a short token is refused, a port in use is named") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    dashboard::DashboardOptions options;
    options.listen = ListenAddress{"0.0.0.0", 0};
    CHECK_THROWS_WITH_AS(dashboard::DashboardServer(adapter, options), doctest::Contains("not a loopback address"),
                         InvalidArgumentError);
    options.listen = ListenAddress{"127.0.0.1", 0};
    options.token = "short";
    CHECK_THROWS_AS(dashboard::DashboardServer(adapter, options), InvalidArgumentError);
    options.token.clear();
    dashboard::DashboardServer server(adapter, options);
    CHECK(server.token().size() == 64);  // random, from /dev/urandom
    CHECK(server.token() != dashboard::random_token());
    options.listen.port = server.start();
    dashboard::DashboardServer second(adapter, options);
    CHECK_THROWS_WITH_AS(second.start(), doctest::Contains("the port is in use"), dashboard::DashboardError);
    server.stop();
    CHECK_THROWS_AS(server.start(), dashboard::DashboardError);
}

TEST_CASE("dashboard memory: with a runtime's Metrics the rates hold handled and failed per second") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    adapter->push("orders", Message::create("order", {{"n", 1}}));
    auto metrics = std::make_shared<Metrics>();
    dashboard::DashboardOptions options;
    options.metrics = metrics;
    options.sample_interval = Seconds{0.05};
    options.samples = 20;
    dashboard_cases::Running dash(adapter, options);
    DeliveryEvent handled;
    handled.channel = "orders";
    handled.message_type = "order";
    handled.message_id = "m";
    handled.outcome = Outcome::succeeded;
    DeliveryEvent failed = handled;
    failed.outcome = Outcome::retried;
    failed.error_class = ErrorClass::transient;
    failed.error_type = "std::runtime_error";
    // Deliveries keep coming until the sampler has seen some of them between two of its samples.
    json series;
    CHECK(test::eventually([&] {
        for (int i = 0; i < 10; ++i) metrics->on_delivery(handled);
        metrics->on_delivery(failed);
        series = dash.get("/api/rates").body["channels"]["orders"];
        if (!series.contains("handledPerSecond")) return false;
        for (const auto& v : series["handledPerSecond"])
            if (v.is_number() && v.get<double>() > 0) return true;
        return false;
    }));
    bool failures = false;
    for (const auto& v : series["failedPerSecond"]) failures = failures || (v.is_number() && v.get<double>() > 0);
    CHECK(failures);
    CHECK(series["handledPerSecond"][0].is_null());  // the first sample has nothing before it
}
