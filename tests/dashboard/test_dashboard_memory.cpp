// The dashboard's API on the in-memory adapter, plus what only needs one adapter: the config
// section, serve_dashboard() on a WorkerPool, and the DeadLetterFilter::ids the page's "replay
// selected" relies on.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>

#include "dashboard_cases.hpp"
#include "failpipe/memory/in_memory_adapter.hpp"
#include "failpipe/worker_pool.hpp"
#include "host_guard.hpp"
#include "raw_http.hpp"
#include "test_support.hpp"

namespace {

using namespace failpipe;
using nlohmann::json;

struct MemoryFixture {
    std::shared_ptr<AdapterInterface> make() { return std::make_shared<InMemoryAdapter>(); }
    void push_raw(AdapterInterface& adapter, const std::string& channel, std::string bytes) {
        dynamic_cast<InMemoryAdapter&>(adapter).push_raw(channel, std::move(bytes));
    }
};

// Each browse takes a while, as a large channel on a remote broker does: a scan of many pages lasts
// long enough to be stopped, or to pass its deadline, half-way.
class SlowBrowseAdapter final : public test::ForwardingAdapter {
public:
    explicit SlowBrowseAdapter(std::shared_ptr<AdapterInterface> inner, std::chrono::milliseconds pause)
        : ForwardingAdapter(std::move(inner)), pause_(pause) {}
    std::vector<Message> browse(const std::string& c, std::size_t o, std::size_t l) override {
        ++browses;
        std::this_thread::sleep_for(pause_);
        return inner_->browse(c, o, l);
    }
    BrowsePage browse_after(const std::string& c, const BrowseCursor& a, std::size_t l) override {
        ++browses;
        std::this_thread::sleep_for(pause_);
        return inner_->browse_after(c, a, l);
    }
    std::atomic<int> browses{0};  ///< pages asked for so far

private:
    std::chrono::milliseconds pause_;
};

// A broker that stops answering (and comes back) on demand: every inspection call fails with a
// ConnectionError while `down` is set.
class SwitchableAdapter final : public test::ForwardingAdapter {
public:
    using ForwardingAdapter::ForwardingAdapter;
    std::atomic<bool> down{false};

    MessageStatus status(const std::string& id) override {
        check();
        return inner_->status(id);
    }
    ChannelDepth depth(const std::string& c) override {
        check();
        return inner_->depth(c);
    }
    std::vector<Message> browse(const std::string& c, std::size_t o, std::size_t l) override {
        check();
        return inner_->browse(c, o, l);
    }
    BrowsePage browse_after(const std::string& c, const BrowseCursor& a, std::size_t l) override {
        check();
        return inner_->browse_after(c, a, l);
    }
    std::size_t remove(const std::string& c, const std::vector<std::string>& ids) override {
        check();
        return inner_->remove(c, ids);
    }
    MoveResult move(const std::string& f, const std::string& t, const std::vector<std::string>& ids, const MessageRewrite& r,
                    Seconds d) override {
        check();
        return inner_->move(f, t, ids, r, d);
    }
    std::vector<std::string> channels() override {
        check();
        return inner_->channels();
    }

private:
    void check() const {
        if (down) throw ConnectionError("connection refused (test)");
    }
};

// @p count dead letters of orders, all transient (so a `class` filter matches them all, but scans).
void seed_many(AdapterInterface& adapter, int count) {
    std::vector<OutgoingMessage> batch;
    for (int i = 0; i < count; ++i) {
        dead_letter_cases::Seed s;
        s.id = "m" + std::to_string(i);
        batch.push_back(OutgoingMessage{"orders:dlq", dead_letter_cases::dead_letter_message(s), Seconds{0.0}});
    }
    adapter.push_batch(std::move(batch));
}

// A token file of @p content and @p mode, removed whatever happens.
struct TempTokenFile {
    std::string path;
    TempTokenFile(const std::string& content, std::filesystem::perms mode) {
        static int n = 0;
        path = (std::filesystem::temp_directory_path() /
                ("failpipe-dash-token-" + std::to_string(::getpid()) + "-" + std::to_string(++n))).string();
        std::ofstream(path) << content;
        std::filesystem::permissions(path, mode);
    }
    ~TempTokenFile() { std::remove(path.c_str()); }
};

std::string token_file_refusal(const std::string& path) {
    try {
        dashboard::read_token_file(path);
    } catch (const dashboard::DashboardError& e) {
        return e.what();
    }
    return "(accepted)";
}

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
        TokenFile() {
            std::ofstream(path) << "  file-token-0123456789abcdef  \n";
            std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
        }
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

// A runtime's dashboard trusts the origins `failpipe dlq replay --config` trusts (configured_channels
// of the same config): a worker channel without a pipeline, never in the broker, is the deployment's;
// a channel the config never names is refused. The same dry run through DeadLetters says the same.
TEST_CASE("dashboard memory: serve_dashboard trusts the config's worker channels as origins and refuses a forged one, as the CLI's rule does") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    dead_letter_cases::seed(*adapter, {{.id = "w1", .original_channel = "audit"},
                                       {.id = "f1", .original_channel = "admin-commands"}});
    const Config config = parse_config(R"({"dashboard": {"listen": "127.0.0.1:)" + std::to_string(free_port()) +
                                       R"("}, "pipelines": {"orders": [{"type": "send-again", "id": "again", "maxAttempts": 2}]},
        "worker": {"channels": ["orders", "audit"]}})");
    WorkerPool pool(adapter, config);
    auto server = dashboard::serve_dashboard(pool, adapter, config);
    REQUIRE(server);
    httplib::Client client("127.0.0.1", server->address().port);
    const auto answer = client.Post("/api/replay", httplib::Headers{{"X-Failpipe-Token", server->token()}},
                                    R"({"channel": "orders", "dryRun": true})", "application/json");
    REQUIRE(answer);
    REQUIRE(answer->status == 200);
    const json body = json::parse(answer->body);
    CHECK(body["replayedIds"] == json::array({"w1"}));
    REQUIRE(body["refusals"].size() == 1);
    CHECK(body["refusals"][0]["id"] == "f1");
    CHECK(body["refusals"][0]["origin"] == "admin-commands");
    // The CLI's path: DeadLetters with configured_channels(config).
    const DeadLetters letters(adapter, DeadLetters::Options{.known_channels = configured_channels(config)});
    const ReplayResult cli = letters.replay({.channel = "orders"}, ReplayOptions{.dry_run = true});
    CHECK(cli.replayed == std::vector<std::string>{"w1"});
    REQUIRE(cli.refused.size() == 1);
    CHECK(body["refusals"][0]["reason"] == cli.refused[0].reason);
    CHECK(dead_letter_cases::census(*adapter, "orders:dlq").size() == 2);  // dry runs: nothing moved
}

// A program that builds its dashboard the older way, giving `pipelines` and no `known_channels`,
// trusted only the dead letters' own channel and the broker's: a dead letter from another pipeline
// channel (or a retry target) that holds no message now was refused. The dashboard derives the
// origins from the pipelines then, with the rule of configured_channels().
TEST_CASE("dashboard memory: given only pipelines, a replay trusts their channels and retry targets as origins and refuses a channel they do not name") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    dead_letter_cases::seed(*adapter, {{.id = "p1", .original_channel = "payments"},
                                       {.id = "r1", .original_channel = "payments-retry"},
                                       {.id = "f1", .original_channel = "admin-commands"}});
    const Config config = parse_config(R"({"pipelines": {
        "orders": [{"type": "send-again", "id": "again", "maxAttempts": 2}],
        "payments": [{"type": "send-again", "id": "later", "maxAttempts": 2, "queue": "payments-retry"}]}})");
    dashboard::DashboardOptions options;
    options.pipelines = std::make_shared<const FailureMiddlewareDispatcher::Options>(config.dispatcher);
    REQUIRE(options.known_channels.empty());
    dashboard_cases::Running dash(adapter, options);
    const auto started = dash.post("/api/replay", json{{"channel", "orders"}});
    REQUIRE(started.status == 202);
    const json result = dash.wait_job(started.body["job"].get<std::string>());
    CHECK(result["state"] == "done");
    CHECK(dashboard_cases::sorted(result["result"]["replayedIds"].get<std::vector<std::string>>()) ==
          std::vector<std::string>{"p1", "r1"});
    REQUIRE(result["result"]["refusals"].size() == 1);
    CHECK(result["result"]["refusals"][0]["id"] == "f1");
    CHECK(result["result"]["refusals"][0]["origin"] == "admin-commands");
    // Replayed to their origins; the forged one stays where it was.
    CHECK(dead_letter_cases::census(*adapter, "payments").size() == 1);
    CHECK(dead_letter_cases::census(*adapter, "payments-retry").size() == 1);
    CHECK(dead_letter_cases::census(*adapter, "admin-commands").empty());
    CHECK(dead_letter_cases::census(*adapter, "orders:dlq") == std::map<std::string, int>{{"f1", 1}});
}

// known_channels, when given, is the whole list: the pipelines add nothing to it.
TEST_CASE("dashboard memory: known_channels given with pipelines is the whole list of trusted origins") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    dead_letter_cases::seed(*adapter, {{.id = "p1", .original_channel = "payments"},
                                       {.id = "a1", .original_channel = "audit"}});
    const Config config = parse_config(R"({"pipelines": {"payments": [{"type": "send-again", "id": "later", "maxAttempts": 2}]}})");
    dashboard::DashboardOptions options;
    options.pipelines = std::make_shared<const FailureMiddlewareDispatcher::Options>(config.dispatcher);
    options.known_channels = {"audit"};
    dashboard_cases::Running dash(adapter, options);
    const auto dry = dash.post("/api/replay", json{{"channel", "orders"}, {"dryRun", true}});
    REQUIRE(dry.status == 200);
    CHECK(dry.body["replayedIds"] == json::array({"a1"}));
    REQUIRE(dry.body["refusals"].size() == 1);
    CHECK(dry.body["refusals"][0]["id"] == "p1");
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

TEST_CASE("dashboard memory: a token file open to other users, not a file, or without a sane token is refused") {
    using std::filesystem::perms;
    const perms owner = perms::owner_read | perms::owner_write;
    const TempTokenFile good("  file-token-0123456789abcdef  \r\n", owner);
    CHECK(dashboard::read_token_file(good.path) == "file-token-0123456789abcdef");
    for (const perms extra : {perms::group_read, perms::others_read, perms::group_write, perms::others_write}) {
        const TempTokenFile open(" file-token-0123456789abcdef\n", owner | extra);
        const std::string why = token_file_refusal(open.path);
        CHECK_MESSAGE(why.find("the token file " + open.path + " is open to other users (mode 06") != std::string::npos, why);
        CHECK_MESSAGE(why.find("chmod 600 " + open.path) != std::string::npos, why);
    }
    for (const char* bad : {"short\n", "\n", "token with spaces 0123456789\n", "token-\x01-control-0123456789\n",
                            "tok\xc3\xa9n-not-ascii-0123456789\n"}) {
        const TempTokenFile file(bad, owner);
        CHECK_MESSAGE(token_file_refusal(file.path).find("must hold one token of 16 to 512 printable ASCII characters") !=
                          std::string::npos,
                      bad);
    }
    const TempTokenFile huge(std::string(5000, 'x'), owner);
    CHECK(token_file_refusal(huge.path).find("is larger than 4096 bytes") != std::string::npos);
    const TempTokenFile long_line(std::string(600, 'x') + "\n", owner);
    CHECK(token_file_refusal(long_line.path).find("16 to 512") != std::string::npos);
    // A directory, and a FIFO (refused at once, not waited on for a writer).
    CHECK(token_file_refusal(std::filesystem::temp_directory_path().string()).find("is not a regular file") != std::string::npos);
    const std::string fifo = good.path + ".fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK(token_file_refusal(fifo).find("is not a regular file") != std::string::npos);
    std::remove(fifo.c_str());
    CHECK(token_file_refusal(good.path + ".absent").find("No such file") != std::string::npos);
    // The same rule for a token given in the options.
    auto adapter = std::make_shared<InMemoryAdapter>();
    dashboard::DashboardOptions options;
    options.listen.port = 0;
    options.token = "token with spaces 0123456789";
    CHECK_THROWS_WITH_AS(dashboard::DashboardServer(adapter, options), doctest::Contains("printable ASCII"), InvalidArgumentError);
}

TEST_CASE("dashboard memory: Host guard - a non-loopback address answers only its own and the allowed names") {
    using dashboard::detail::HostGuard;
    const HostGuard lan(ListenAddress{"192.168.1.20", 8080}, 8080, {"dash.example.com", "proxy.example.com:443"});
    CHECK(lan.allows("192.168.1.20:8080"));
    CHECK(lan.allows("Dash.Example.com:8080"));
    CHECK(lan.allows("proxy.example.com:443"));
    CHECK(lan.allows("127.0.0.1:8080"));  // an operator on the machine itself
    CHECK_FALSE(lan.allows("evil.example:8080"));  // a rebound name
    CHECK_FALSE(lan.allows("dash.example.com:9999"));
    CHECK_FALSE(lan.allows("proxy.example.com:8080"));
    CHECK_FALSE(lan.allows("192.168.1.20"));
    CHECK_FALSE(lan.allows(""));
    const HostGuard any(ListenAddress{"0.0.0.0", 8080}, 8080, {});
    CHECK(any.allows("0.0.0.0:8080"));               // the listen address itself (no browser sends it)
    CHECK_FALSE(any.allows("192.168.1.20:8080"));       // a wildcard address needs its names listed
    const HostGuard web(ListenAddress{"10.0.0.5", 80}, 80, {"dash.example.com"});
    CHECK(web.allows("dash.example.com"));  // port 80: browsers send no port
    CHECK(web.allows("10.0.0.5"));
    CHECK_THROWS_AS(HostGuard::check({"*.example.com"}), InvalidArgumentError);
    CHECK_THROWS_AS(HostGuard::check({""}), InvalidArgumentError);
    CHECK_THROWS_AS(HostGuard::check({"a.example.com/x"}), InvalidArgumentError);
}

TEST_CASE("dashboard memory: allowed_hosts lets a named Host in, and only that one") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    dead_letter_cases::seed(*adapter, dead_letter_cases::mixed_seeds());
    dashboard::DashboardOptions options;
    options.allowed_hosts = {"dash.internal"};
    dashboard_cases::Running dash(adapter, options);
    auto with_host = [&](const std::string& host) {
        return dash.answer_of(dash.client->Get("/api/overview", httplib::Headers{{"Host", host}}));
    };
    CHECK(with_host("dash.internal:" + std::to_string(dash.port)).status == 200);
    const auto rebound = with_host("evil.example:" + std::to_string(dash.port));
    CHECK(rebound.status == 403);
    CHECK(rebound.body["error"].get<std::string>().find("unexpected Host header \"evil.example:") == 0);
    CHECK(with_host("dash.internal:1").status == 403);
}

TEST_CASE("dashboard memory: a scan past its deadline answers 504 and frees its slot") {
    auto inner = std::make_shared<InMemoryAdapter>();
    seed_many(*inner, 10'000);  // 5 pages of 2,000: 5 slow browses
    auto adapter = std::make_shared<SlowBrowseAdapter>(inner, std::chrono::milliseconds(300));
    dashboard::DashboardOptions options;
    options.scan_timeout = Seconds{1.0};
    options.max_scans = 1;
    dashboard_cases::Running dash(adapter, options);
    for (const char* path : {"/api/count", "/api/groups", "/api/dead"}) {
        const auto a = dash.get(path, {{"channel", "orders"}, {"class", "permanent"}});  // matches none: reads everything
        CHECK_MESSAGE(a.status == 504, path);
        CHECK(a.body["kind"] == "timeout");
        const std::string error = a.body["error"].get<std::string>();
        CHECK_MESSAGE(error.find("the scan of orders:dlq stopped at its deadline (1 s) after reading") == 0, error);
        CHECK(error.find("narrow the filter") != std::string::npos);
    }
    const auto dry = dash.post("/api/purge", {{"channel", "orders"}, {"filter", {{"class", "permanent"}}}, {"dryRun", true}});
    CHECK(dry.status == 504);
    // The slot is free again: a scan that fits its deadline (two browses) answers.
    CHECK(dash.get("/api/dead", {{"channel", "orders"}, {"limit", "5"}}).status == 200);
    CHECK(inner->depth("orders:dlq").ready == 10'000);
}

TEST_CASE("dashboard memory: stop() ends a running scan with 503 instead of waiting for it") {
    auto inner = std::make_shared<InMemoryAdapter>();
    seed_many(*inner, 10'000);
    auto adapter = std::make_shared<SlowBrowseAdapter>(inner, std::chrono::milliseconds(300));
    auto dash = std::make_unique<dashboard_cases::Running>(adapter);
    std::atomic<bool> asked{false};
    dashboard_cases::Running::Answer answer;
    std::thread scan([&] {
        httplib::Client own("127.0.0.1", dash->port);
        own.set_read_timeout(std::chrono::seconds(60));
        asked = true;
        const auto result = own.Get("/api/count", {{"channel", "orders"}, {"class", "permanent"}}, httplib::Headers{});
        if (result) answer = dashboard_cases::Running::answer_of(result);
    });
    CHECK(test::eventually([&] { return asked.load(); }));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the scan is in its first browse
    dash->server->stop();
    scan.join();
    // Without the stop it would have read all 10,000 and answered 200 with a count of 0.
    CHECK(answer.status == 503);
    CHECK(answer.body["kind"] == "stopping");
    CHECK(answer.body["error"].get<std::string>().find("the dashboard is stopping") != std::string::npos);
}

TEST_CASE("dashboard memory: stop() during a replay's first scan cancels it at once - nothing moved") {
    auto inner = std::make_shared<InMemoryAdapter>();
    seed_many(*inner, 10'000);
    auto adapter = std::make_shared<SlowBrowseAdapter>(inner, std::chrono::milliseconds(300));
    auto dash = std::make_unique<dashboard_cases::Running>(adapter);
    // A filter: the job first counts its matches (5 slow pages), then moves them chunk by chunk.
    const auto started = dash->post("/api/replay", {{"channel", "orders"}, {"filter", {{"class", "transient"}}}});
    REQUIRE(started.status == 202);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    dash->server->stop();
    // The job stopped after the page it was reading: stop() did not wait for it to read all 5.
    CHECK(adapter->browses < 5);
    CHECK(inner->depth("orders:dlq").ready == 10'000);
    CHECK(inner->depth("orders").ready == 0);
}

TEST_CASE("dashboard memory: a replay or purge while the broker is down is 503 and changes nothing") {
    auto inner = std::make_shared<InMemoryAdapter>();
    dead_letter_cases::seed(*inner, dead_letter_cases::mixed_seeds());
    auto adapter = std::make_shared<SwitchableAdapter>(inner);
    dashboard_cases::Running dash(adapter);
    adapter->down = true;
    const auto replay = dash.post("/api/replay", {{"channel", "orders"}});
    CHECK(replay.status == 503);
    CHECK(replay.body["kind"] == "broker");
    CHECK(replay.body["error"] == "broker unreachable: connection refused (test); nothing was replayed");
    const auto purge = dash.post("/api/purge", {{"channel", "orders"}, {"confirm", "orders"}});
    CHECK(purge.status == 503);
    CHECK(purge.body["error"] == "broker unreachable: connection refused (test); nothing was deleted");
    CHECK(dash.post("/api/replay", {{"channel", "orders"}, {"dryRun", true}}).status == 503);
    CHECK(dash.post("/api/replay", {{"channel", "orders"}, {"ids", {"t1"}}}).status == 503);
    adapter->down = false;
    CHECK(dashboard_cases::census(*inner, "orders:dlq").size() == 6);
    CHECK(dashboard_cases::census(*inner, "orders").empty());
    // Once it is back the same request starts a job.
    CHECK(dash.post("/api/replay", {{"channel", "orders"}, {"dryRun", true}}).status == 200);
}

TEST_CASE("dashboard memory: requests answered from their headers - a POST without a body 411, a bad Content-Length 400, wrong methods 405, HEAD - nothing moved") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    adapter->push("orders:dlq", Message::create("order", 1));
    dashboard_cases::Running dash(adapter);
    const std::string token = std::string("X-Failpipe-Token: ") + dashboard_cases::kToken + "\r\n";
    auto send = [&](const std::string& method, const std::string& path, const std::string& headers) {
        return test::send_raw(dash.port, test::request_line(method, path, headers, dash.host()));
    };
    // httplib would wait for a body until its 5 s read timeout, then answer 400.
    for (const std::string path : {"/api/replay", "/api/purge"}) {
        CAPTURE(path);
        const auto reply = send("POST", path, token + "Content-Type: application/json\r\n");
        CHECK(reply.status() == 411);
        CHECK(reply.body.find("without Content-Length") != std::string::npos);
        CHECK(reply.seconds < 2.0);
    }
    for (const std::string length : {"abc", "-1", "99999999999999999999999"}) {
        CAPTURE(length);
        const auto reply = send("POST", "/api/purge", token + "Content-Type: application/json\r\nContent-Length: " + length + "\r\n");
        CHECK(reply.status() == 400);
        CHECK(reply.has("Connection: close"));
        CHECK(reply.body.find("bad Content-Length") != std::string::npos);
        CHECK(reply.seconds < 2.0);
    }
    for (const std::string method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
        CAPTURE(method);
        const auto reply = send(method, "/api/overview", "");
        CHECK(reply.status() == 405);
        CHECK(reply.has("Allow: GET, HEAD"));
        CHECK(reply.seconds < 2.0);
    }
    const auto head = send("HEAD", "/api/info", "");
    CHECK(head.status() == 200);
    CHECK(head.body.empty());
    CHECK(adapter->depth("orders:dlq").total() == 1);
}


TEST_CASE("dashboard memory: heartbeats against a hung broker share one probe - 503 each, then reachable again") {
    auto adapter = std::make_shared<test::GatedDepth>(std::make_shared<InMemoryAdapter>());
    dashboard::DashboardOptions options;
    options.broker_timeout = Seconds{0.2};
    dashboard_cases::Running dash(adapter, options);
    std::vector<std::future<dashboard_cases::Running::Answer>> replies;
    for (int i = 0; i < 12; ++i)
        replies.push_back(std::async(std::launch::async, [&dash] {
            httplib::Client client("127.0.0.1", dash.port);
            client.set_read_timeout(std::chrono::seconds(20));
            return dashboard_cases::Running::answer_of(client.Get("/api/broker"));
        }));
    for (auto& reply : replies) {
        const auto answer = reply.get();
        CHECK(answer.status == 503);
        CHECK(answer.body["error"].get<std::string>().rfind("broker unreachable: no answer within 0.2 s", 0) == 0);
    }
    CHECK(adapter->most() == 1);
    adapter->open();
    CHECK(test::eventually([&] { return dash.get("/api/broker").status == 200; }, std::chrono::seconds(5)));

    options.broker_timeout = Seconds{0.0};
    CHECK_THROWS_WITH_AS(dashboard::DashboardServer(adapter, options),
                         "dashboard: broker_timeout must be above 0 and at most 1e9 s", InvalidArgumentError);
}

TEST_CASE("dashboard memory: an unknown or repeated query parameter is a 400 naming it - a typo never gives the default") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    dashboard_cases::Running dash(adapter);
    auto error_of = [&](const std::string& target) {
        const auto answer = dashboard_cases::Running::answer_of(dash.client->Get(target));
        CHECK(answer.status == 400);
        return answer.body.value("error", std::string());
    };
    CHECK(error_of("/api/explain?channel=orders&failure=5") == "unknown parameter `failure`; did you mean `failures`?");
    CHECK(error_of("/api/job?id=1&verbose=1") == "unknown parameter `verbose` (expected `id`)");
    CHECK(error_of("/api/message?channel=a&channel=b&id=x") == "the parameter `channel` is given more than once");
    CHECK(error_of("/api/dead?channel=orders&limit=5&limit=500") == "the parameter `limit` is given more than once");
    CHECK(error_of("/api/dead?channel=orders&limit=99999999999999999999999").find("`limit` expects a whole number") == 0);
    for (const std::string limit : {"-1", "+5", "%205", "5%20", "0x10", "1e2"}) {
        CAPTURE(limit);
        CHECK(error_of("/api/dead?channel=orders&limit=" + limit).find("`limit` expects a whole number") == 0);
    }
    // Bad percent-encoding and bytes that are not UTF-8 are data, answered in valid JSON.
    const auto odd = dashboard_cases::Running::answer_of(dash.client->Get("/api/count?channel=%ff%fe%zz&grep=%"));
    CHECK(odd.status == 200);
    CHECK_FALSE(odd.body.is_discarded());
    CHECK(dash.get("/api/explain", {{"channel", "orders"}, {"failures", "3"}}).status == 200);
}

TEST_CASE("dashboard memory: a bad ttl for explain is a 400 naming the parameter - 0, negative, garbage, too long, empty") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    dashboard_cases::Running dash(adapter);
    auto error_of = [&](const std::string& ttl) {
        const auto answer = dash.get("/api/explain", {{"channel", "orders"}, {"ttl", ttl}});
        CHECK(answer.status == 400);
        CHECK(answer.body.value("kind", "") == "request");
        return answer.body.value("error", std::string());
    };
    // The CLI's words for --ttl (the same parser), naming `ttl` as the API spells it.
    const std::string forms = "`ttl` expects a duration such as 90s, 15m, 2h, 7d or plain seconds";
    const std::string too_long = "`ttl` expects at most 1e9 seconds (about 31 years), found ";
    const std::vector<std::pair<std::string, std::string>> refusals{
        {"0", "`ttl` expects a time to live greater than 0, found \"0\""},
        {"0s", "`ttl` expects a time to live greater than 0, found \"0s\""},
        {"-5m", "`ttl` expects a duration of 0 or more, found \"-5m\""},
        {"soon", forms + ", found \"soon\""},
        {"", forms + ", found \"\""},
        {"nan", forms + ", found \"nan\""},
        {"3w", "`ttl`: unknown unit \"w\" in \"3w\" (expected s, m, h or d)"},
        {"2026-01-01T00:00:00Z", forms + ", not a date or time, found \"2026-01-01T00:00:00Z\""},
        {"1e400", too_long + "\"1e400\""},
        {"11575d", too_long + "\"11575d\""},
        {"inf", too_long + "\"inf\""},
    };
    for (const auto& [ttl, message] : refusals) {
        CAPTURE(ttl);
        CHECK(error_of(ttl) == message);
    }
    const auto twice = dashboard_cases::Running::answer_of(dash.client->Get("/api/explain?channel=orders&ttl=1m&ttl=2h"));
    CHECK(twice.status == 400);
    CHECK(twice.body.value("error", "") == "the parameter `ttl` is given more than once");
    // A value as long as a page is cut in the message.
    const auto long_value = error_of(std::string(5000, '9'));
    CHECK(long_value.size() < 200);
    // A good one still answers.
    CHECK(dash.get("/api/explain", {{"channel", "orders"}, {"ttl", "90s"}}).status == 200);
}
