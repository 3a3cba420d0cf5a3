// The dashboard in headless Chromium, over a real Redis holding the known set (known_set.hpp): what an
// operator sees and does, checked afterwards through the library and the CLI. Every page visited is
// also written as a screenshot (the folder is printed; docs/testing.md).
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>

#include "dashboard_support.hpp"
#include "redis/redis_test_support.hpp"

using namespace failpipe;
using namespace failpipe::browser_test;
using namespace std::chrono_literals;
using Ids = std::vector<std::string>;

namespace {

/// The known set, a dashboard over it, and a browser; built only when the browser is there.
struct Fixture {
    KnownSet set;
    RunningDashboard dashboard;
    ChromeDriver driver;
    Session session;

    explicit Fixture(const BrowserBinaries& browser, dashboard::DashboardOptions options = dashboard_options())
        : set(fill_known_set(redis_test::test_redis_url(), redis_test::unique_prefix("browser"))),
          dashboard(set.adapter, std::move(options)),
          driver(browser),
          session(driver) {}

    /// Opens the dashboard as its printed URL does (token in the fragment), then goes to @p route.
    void open(const std::string& route, const std::string& token = kToken) {
        session.navigate(dashboard.with_token(token));
        wait_view(session, "overview");
        if (route != "/") session.navigate(dashboard.at(route));
    }
    void shot(const std::string& name) const { session.screenshot(screenshots() / (name + ".png")); }
    Ids dead_ids(const std::string& channel = "orders") const { return cli_dead_letter_ids(set, channel); }
    Ids all_orders_dead() const { return sorted({"t1", "t2", "t3", "n1", "n2", kXssId, set.poison_id}); }
};

#define FAILPIPE_BROWSER_OR_SKIP()     \
    auto browser = browser_or_skip(); \
    if (!browser) return

/// encodeURIComponent, for ids and filters in a route.
std::string component(const std::string& text) {
    static const char* digits = "0123456789ABCDEF";
    std::string out;
    for (const unsigned char c : text) {
        if (std::isalnum(c) || std::string_view("-_.!~*'()").find(static_cast<char>(c)) != std::string_view::npos) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += digits[c >> 4];
            out += digits[c & 15];
        }
    }
    return out;
}

/// `[data-testid="<name>"][<attribute>="<value>"]`, the value escaped as a CSS string.
std::string with(const std::string& name, const std::string& attribute, const std::string& value) {
    std::string escaped;
    for (const char c : value) {
        if (c == '"' || c == '\\') escaped += '\\';
        escaped += c;
    }
    return testid(name) + "[" + attribute + "=\"" + escaped + "\"]";
}

/// Sets a filter field as typing would, whether it is an <input> or a <select>.
void set_field(const Session& session, const std::string& name, const std::string& value) {
    session.execute(R"js(
        const field = document.querySelector(arguments[0]);
        field.value = arguments[1];
        field.dispatchEvent(new Event('input', {bubbles: true}));
        field.dispatchEvent(new Event('change', {bubbles: true}));)js",
                    {testid(name), value});
}

/// The text of whichever error element the page shows (error-banner or action-error), empty when none.
std::string shown_error(const Session& session) {
    return session
        .execute(R"js(
        for (const id of ['action-error', 'error-banner']) {
          const e = document.querySelector('[data-testid=' + id + ']');
          if (e && e.offsetParent !== null && e.textContent.trim() !== '') return e.textContent.trim();
        }
        return '';)js")
        .get<std::string>();
}

std::string wait_error(const Session& session, const std::string& needle, std::chrono::milliseconds bound = 10s) {
    std::string text;
    try {
        session.wait_until([&] { return (text = shown_error(session)).find(needle) != std::string::npos; },
                           "an error saying \"" + needle + "\"", bound);
    } catch (const WebDriverError& e) {
        FAIL(e.what() << "; the page shows \"" << text << "\"");
    }
    return text;
}

/// Waits until the element @p css has @p attribute == @p value.
void wait_attribute(const Session& session, const std::string& css, const std::string& attribute, const std::string& value,
                    std::chrono::milliseconds bound = 15s) {
    std::string seen;
    try {
        session.wait_until(
            [&] {
                const auto element = session.find_optional(css);
                return element && (seen = element->attribute(attribute)) == value;
            },
            css + " " + attribute + "=" + value, bound);
    } catch (const WebDriverError& e) {
        FAIL(e.what() << "; it has \"" << seen << "\"; the page's error: \"" << shown_error(session) << "\"");
    }
}

/// Whether any element matching @p css is shown.
bool any_shown(const Session& session, const std::string& css) {
    for (const auto& element : session.find_all(css))
        if (element.displayed()) return true;
    return false;
}

}  // namespace

TEST_CASE("dashboard: the overview shows every channel with its ready, delayed, dead and parked counts") {
    FAILPIPE_BROWSER_OR_SKIP();
    Fixture f(*browser);
    f.open("/");
    std::map<std::string, std::map<std::string, std::string>> counts;
    f.session.wait_until(
        [&] {
            counts = overview_counts(f.session);
            return counts.count("orders") > 0 && counts["orders"]["dead"] == "7";
        },
        "the overview's counts");
    using Row = std::map<std::string, std::string>;
    CHECK(counts.size() == 3);
    CHECK(counts["orders"] == Row{{"ready", "2"}, {"delayed", "1"}, {"reserved", "0"}, {"dead", "7"}, {"parked", "0"}, {"evicted", "0"}});
    CHECK(counts["payments"] == Row{{"ready", "0"}, {"delayed", "0"}, {"reserved", "0"}, {"dead", "5"}, {"parked", "0"}, {"evicted", "0"}});
    CHECK(counts["emails"] == Row{{"ready", "1"}, {"delayed", "0"}, {"reserved", "0"}, {"dead", "1"}, {"parked", "0"}, {"evicted", "0"}});
    // Dead letters waiting is a warning, with one reason per dead-letter channel.
    CHECK(f.session.find(testid("health-status")).text() == "warning");
    std::string reasons;
    for (const auto& reason : f.session.find_all(testid("health-reason"))) reasons += reason.text() + "\n";
    CHECK(reasons.find("orders:dlq holds 7 dead letters") != std::string::npos);
    CHECK(reasons.find("payments:dlq holds 5 dead letters") != std::string::npos);
    // Not read-only: no such marker (it was shown on every dashboard once: CSS beat `hidden`).
    CHECK_FALSE(f.session.find(testid("read-only-marker")).displayed());
    // Plain links to each view of a channel.
    const auto row = f.session.find(with("channel-row", "data-channel", "orders"));
    CHECK(row.find(testid("channel-link-dead")).attribute("href").find("#/channel/orders/dead") != std::string::npos);
    CHECK(row.find(testid("channel-link-groups")).attribute("href").find("#/channel/orders/groups") != std::string::npos);
    CHECK(row.find(testid("channel-link-explain")).attribute("href").find("#/channel/orders/explain") != std::string::npos);
    // The charts update live: the sampler (every second here) adds points while the page is open.
    f.session.wait_until(
        [&] {
            const auto chart = f.session.find(with("rate-chart", "data-channel", "orders"));
            return std::atoi(chart.attribute("data-points").c_str()) >= 2;
        },
        "two samples in the orders chart", 15s);
    f.shot("overview");
}

TEST_CASE("dashboard: filters by reason, by text and by group show exactly the matching dead letters") {
    FAILPIPE_BROWSER_OR_SKIP();
    Fixture f(*browser);
    f.open("/channel/orders/dead");
    wait_view(f.session, "dead");
    wait_rows(f.session, testid("dead-row"), f.all_orders_dead());
    f.shot("dead-letters");

    // Typed into the form: a regular expression over the error text.
    const auto grep = f.session.find(testid("filter-grep"));
    grep.clear();
    grep.send_keys("order [0-9]+ not");
    f.session.find(testid("filter-apply")).click();
    wait_rows(f.session, testid("dead-row"), {"n1", "n2"});
    CHECK(f.session.url().find("grep=") != std::string::npos);  // the filter is in the URL
    f.session.wait_until([&] { return f.session.find(testid("match-count")).text().find('2') != std::string::npos; },
                         "match-count to say 2");

    // By reason, through the form after clearing it.
    f.session.find(testid("filter-clear")).click();
    wait_rows(f.session, testid("dead-row"), f.all_orders_dead());
    set_field(f.session, "filter-reason", "poison");
    f.session.find(testid("filter-apply")).click();
    wait_rows(f.session, testid("dead-row"), {f.set.poison_id});

    // By URL, as a pasted link would: a reason, and a group.
    f.session.navigate(f.dashboard.at("/channel/orders/dead?reason=max-deliveries"));
    wait_rows(f.session, testid("dead-row"), {"n2"});
    CHECK(f.session.find(with("dead-row", "data-id", "n2")).find(testid("dead-reason")).text() == "max-deliveries");
    f.session.navigate(f.dashboard.at("/channel/orders/dead?group=" + KnownSet::timeout_fingerprint()));
    wait_rows(f.session, testid("dead-row"), KnownSet::timeout_ids());
}

TEST_CASE("dashboard: the groups view shows one row per cause, largest first, linked to its dead letters") {
    FAILPIPE_BROWSER_OR_SKIP();
    Fixture f(*browser);
    Ids expected;
    for (const auto& group : DeadLetters(f.set.adapter).groups({.channel = "orders"})) expected.push_back(group.fingerprint);
    REQUIRE(expected.size() == 4);
    f.open("/channel/orders/groups");
    wait_view(f.session, "groups");
    f.session.wait_until([&] { return attributes_of(f.session, testid("group-row"), "data-fingerprint") == expected; },
                         "the four groups of orders, largest first");
    const auto first = f.session.find(with("group-row", "data-fingerprint", KnownSet::timeout_fingerprint()));
    CHECK(first.find(testid("group-count")).text() == "3");
    CHECK(first.find(testid("group-error-type")).text() == "std::runtime_error");
    CHECK(first.find(testid("group-first-seen")).text().find("2026-03-01") != std::string::npos);
    CHECK(first.find(testid("group-last-seen")).text().find("2026-03-03") != std::string::npos);
    CHECK(first.find(testid("group-sample")).text().find("timeout after 3012 ms") != std::string::npos);
    f.shot("groups");

    first.find(testid("group-link")).click();
    wait_view(f.session, "dead");
    wait_rows(f.session, testid("dead-row"), KnownSet::timeout_ids());
    CHECK(f.session.url().find("group=" + KnownSet::timeout_fingerprint()) != std::string::npos);

    // payments: the four declined cards are one cause whatever their numbers.
    f.session.navigate(f.dashboard.at("/channel/payments/groups"));
    f.session.wait_until([&] { return attributes_of(f.session, testid("group-row"), "data-fingerprint").size() == 2; },
                         "the two groups of payments");
    CHECK(f.session.find_all(testid("group-count"))[0].text() == "4");
    CHECK(f.session.find_all(testid("group-count"))[1].text() == "1");
}

TEST_CASE("dashboard: replaying a group from the page moves exactly that group, as the CLI then shows") {
    FAILPIPE_BROWSER_OR_SKIP();
    Fixture f(*browser);
    f.open("/channel/orders/groups");
    const auto row = f.session.wait_for(with("group-row", "data-fingerprint", KnownSet::timeout_fingerprint()));
    // At a safe rate: 2 a second, so the page shows the job running before it is done.
    const auto rate = f.session.find(testid("replay-rate"));
    rate.clear();
    rate.send_keys("2");
    row.find(testid("group-replay")).click();
    wait_attribute(f.session, testid("dry-run-count"), "data-replay", "3");
    CHECK(f.dead_ids() == f.all_orders_dead());  // the dry run moved nothing
    f.session.find(testid("replay-confirm")).click();
    f.session.wait_until(
        [&] {
            const auto progress = f.session.find_optional(testid("job-progress"));
            return progress && progress->attribute("data-state") == "running" && progress->attribute("data-total") == "3";
        },
        "the job's progress while it runs", 10s);
    wait_attribute(f.session, testid("job-result"), "data-replayed", "3");
    CHECK(f.session.find(testid("job-progress")).attribute("data-state") == "done");
    CHECK(f.session.find(testid("job-progress")).attribute("data-done") == "3");
    CHECK(f.session.find(testid("job-result")).text().find("replayed 3") != std::string::npos);
    f.shot("replayed-group");

    CHECK(f.dead_ids() == sorted({"n1", "n2", kXssId, f.set.poison_id}));
    const auto back = dead_letter_cases::census(*f.set.adapter, "orders");
    for (const auto& id : KnownSet::timeout_ids()) CHECK(back.count(id) == 1);
    CHECK(f.set.adapter->depth("orders").ready == KnownSet::kOrdersReady + 3);
    CHECK(f.dead_ids("payments").size() == KnownSet::kPaymentsDead);  // other channels untouched
}

TEST_CASE("dashboard: replaying selected rows moves exactly those dead letters") {
    FAILPIPE_BROWSER_OR_SKIP();
    Fixture f(*browser);
    f.open("/channel/orders/dead");
    wait_rows(f.session, testid("dead-row"), f.all_orders_dead());
    for (const char* id : {"n1", "t2"}) f.session.find(with("dead-row", "data-id", id) + " " + testid("dead-row-select")).click();
    f.session.find(testid("replay-selected")).click();
    wait_attribute(f.session, testid("dry-run-count"), "data-replay", "2");
    f.session.find(testid("replay-confirm")).click();
    wait_attribute(f.session, testid("job-result"), "data-replayed", "2");
    CHECK(f.dead_ids() == sorted({"t1", "t3", "n2", kXssId, f.set.poison_id}));
    const auto back = dead_letter_cases::census(*f.set.adapter, "orders");
    CHECK(back.count("n1") == 1);
    CHECK(back.count("t2") == 1);
    CHECK(f.set.adapter->depth("orders").ready == KnownSet::kOrdersReady + 2);
}

TEST_CASE("dashboard: dead letters page by 50 with next and previous, the offset in the URL") {
    FAILPIPE_BROWSER_OR_SKIP();
    Fixture f(*browser);
    std::vector<dead_letter_cases::Seed> seeds;
    for (int i = 0; i < 120; ++i) seeds.push_back({"m-" + std::to_string(1000 + i)});
    dead_letter_cases::seed(*f.set.adapter, seeds, "bulk:dlq");
    auto ids = [](int from, int to) {
        Ids out;
        for (int i = from; i < to; ++i) out.push_back("m-" + std::to_string(1000 + i));
        return out;
    };
    f.open("/channel/bulk/dead");
    wait_rows(f.session, testid("dead-row"), ids(0, 50));
    CHECK_FALSE(f.session.find(testid("page-prev")).enabled());
    f.session.find(testid("page-next")).click();
    wait_rows(f.session, testid("dead-row"), ids(50, 100));
    CHECK(f.session.url().find("offset=50") != std::string::npos);
    f.session.find(testid("page-next")).click();
    wait_rows(f.session, testid("dead-row"), ids(100, 120));
    CHECK_FALSE(f.session.find(testid("page-next")).enabled());
    const std::string last_page = f.session.url();
    f.session.find(testid("page-prev")).click();
    wait_rows(f.session, testid("dead-row"), ids(50, 100));
    // The last page's URL, opened again, is the last page.
    f.session.navigate(last_page);
    wait_rows(f.session, testid("dead-row"), ids(100, 120));
}

TEST_CASE("dashboard: purge needs the channel name typed - without it nothing is removed") {
    FAILPIPE_BROWSER_OR_SKIP();
    Fixture f(*browser);
    f.open("/channel/orders/dead?reason=max-deliveries");
    wait_rows(f.session, testid("dead-row"), {"n2"});
    f.session.find(testid("purge-matching")).click();
    const auto input = f.session.wait_for(testid("purge-confirm-input"));
    const auto confirm = f.session.find(testid("purge-confirm"));
    // Nothing typed: the button does nothing (disabled) or the server refuses; either way nothing goes.
    if (confirm.enabled()) {
        confirm.click();
        CHECK(wait_error(f.session, "not confirmed").find("orders") != std::string::npos);
    }
    input.send_keys("ordres");
    if (confirm.enabled()) {
        confirm.click();
        wait_error(f.session, "not confirmed");
    }
    f.shot("purge-unconfirmed");
    CHECK(f.dead_ids() == f.all_orders_dead());
    // The server checks the name too, whatever a page does.
    const auto forged = api_post(f.dashboard.port(), "/api/purge", {{"channel", "orders"}, {"filter", {{"reason", "max-deliveries"}}}});
    REQUIRE(forged);
    CHECK(forged->status == 400);
    CHECK(forged->body.find("not confirmed") != std::string::npos);
    CHECK(f.dead_ids() == f.all_orders_dead());

    input.clear();
    input.send_keys("orders");
    f.session.wait_until([&] { return confirm.enabled(); }, "purge-confirm to be enabled");
    confirm.click();
    wait_attribute(f.session, testid("job-result"), "data-removed", "1");
    Ids left = f.all_orders_dead();
    left.erase(std::find(left.begin(), left.end(), "n2"));
    CHECK(f.dead_ids() == left);
}

TEST_CASE("dashboard: markup in dead letters renders as text and runs nothing, on every view") {
    FAILPIPE_BROWSER_OR_SKIP();
    Fixture f(*browser);
    f.open("/channel/orders/dead");
    wait_rows(f.session, testid("dead-row"), f.all_orders_dead());
    const auto row = f.session.find(with("dead-row", "data-id", kXssId));
    CHECK(row.find(testid("dead-error-message")).text() == kXssScript);
    check_nothing_ran(f.session);

    f.session.navigate(f.dashboard.at("/channel/orders/groups"));
    f.session.wait_until([&] { return attributes_of(f.session, testid("group-row"), "data-fingerprint").size() == 4; },
                         "the groups of orders");
    check_nothing_ran(f.session);

    f.session.navigate(f.dashboard.at("/channel/orders/message/" + component(kXssId)));
    wait_attribute(f.session, testid("detail-panel"), "data-id", kXssId);
    CHECK(f.session.find(testid("detail-data")).text().find("onerror=\\\"window.__xss=1\\\"") != std::string::npos);
    CHECK(f.session.find(testid("detail-record")).text().find(kXssScript) != std::string::npos);
    check_nothing_ran(f.session);
    f.shot("detail-xss");

    // Bytes that are no message, with markup in them: shown escaped, as text.
    f.session.navigate(f.dashboard.at("/channel/emails/message/" + component(f.set.raw_id)));
    const auto raw = f.session.wait_for(testid("detail-raw"));
    CHECK(raw.text().find("<script>window.__xss=1</script>") != std::string::npos);
    CHECK(raw.text().find("\\xff") != std::string::npos);
    check_nothing_ran(f.session);
    f.shot("detail-undecodable");
}

TEST_CASE("dashboard: a dead letter's detail and a channel's explain timeline") {
    FAILPIPE_BROWSER_OR_SKIP();
    Fixture f(*browser);
    f.open("/channel/orders/message/t1");
    wait_attribute(f.session, testid("detail-panel"), "data-id", "t1");
    CHECK(f.session.find(testid("detail-record")).text().find("timeout after 3012 ms") != std::string::npos);
    CHECK(f.session.find(testid("detail-data")).text().find("\"t1\"") != std::string::npos);
    f.shot("detail");

    // A payment sent again twice, then dead-lettered: its attempts as a timeline.
    f.session.navigate(f.dashboard.at("/channel/payments/message/pay-1"));
    wait_attribute(f.session, testid("detail-panel"), "data-id", "pay-1");
    const auto history = f.session.find(testid("detail-history")).find_all(testid("history-entry"));
    REQUIRE(history.size() == 3);
    CHECK(history[0].text().find("insufficient funds") != std::string::npos);
    CHECK(history[2].attribute("data-action") == "dead-letter");
    f.shot("detail-history");

    f.session.navigate(f.dashboard.at("/channel/orders/message/" + component(f.set.poison_id)));
    wait_attribute(f.session, testid("detail-panel"), "data-id", f.set.poison_id);
    CHECK(f.session.find(testid("detail-record")).text().find("poison") != std::string::npos);
    f.shot("detail-poison");

    // orders: 2 immediate retries, 3 delays growing 5 s → 15 s → 45 s, then the dead letters.
    f.session.navigate(f.dashboard.at("/channel/orders/explain"));
    wait_view(f.session, "explain");
    f.session.wait_for(testid("explain-timeline"));
    const auto actions = attributes_of(f.session, testid("explain-step"), "data-action");
    REQUIRE(actions.size() == 6);
    CHECK(actions.back() == "dead-letter");
    const auto delays = attributes_of(f.session, testid("explain-step"), "data-delay");
    CHECK(std::atof(delays[2].c_str()) == doctest::Approx(5.0));
    CHECK(std::atof(delays[3].c_str()) == doctest::Approx(15.0));
    CHECK(std::atof(delays[4].c_str()) == doctest::Approx(45.0));
    // Failures at the same moment (1 to 3 at 0 s) must not draw their labels on top of each other.
    const auto overlaps = f.session.execute(R"js(
        const boxes = Array.from(document.querySelectorAll('[data-testid=explain-timeline] text'))
                           .map(t => [t.textContent, t.getBoundingClientRect()]);
        const out = [];
        for (let i = 0; i < boxes.length; ++i)
          for (let j = i + 1; j < boxes.length; ++j) {
            const [a, r] = boxes[i], [b, q] = boxes[j];
            if (r.left < q.right - 1 && q.left < r.right - 1 && r.top < q.bottom - 1 && q.top < r.bottom - 1)
              out.push(a + ' / ' + b);
          }
        return out;)js");
    CHECK_MESSAGE(overlaps.empty(), "labels drawn over each other: " << overlaps.dump());
    f.shot("explain");

    // A time to live typed in the form, as `failpipe explain --ttl 10s`: the retry due at 20 s finds
    // the message expired. That delivery is shown as an expiry (not a fifth failure), nothing after it.
    auto ttl = f.session.find(testid("explain-ttl"));
    ttl.clear();
    ttl.send_keys("10s");
    f.session.find(testid("explain-apply")).click();
    wait_attribute(f.session, testid("explain-outcome"), "data-expired", "true");
    CHECK(f.session.url().find("ttl=10s") != std::string::npos);
    CHECK(attributes_of(f.session, testid("explain-step"), "data-expired") == Ids{"false", "false", "false", "false", "true"});
    const auto steps = f.session.find_all(testid("explain-step"));
    REQUIRE(steps.size() == 5);
    CHECK(steps.back().attribute("data-action") == "dead-letter");
    CHECK(steps.back().text().find("delivery 5: expired") == 0);
    CHECK(steps.back().text().find("failure") == std::string::npos);
    CHECK(f.session.find(testid("explain-outcome")).text() == "expired and dead-lettered to orders:dlq after 4 failures");
    CHECK(f.session.execute("return document.querySelectorAll('[data-testid=explain-timeline] circle.expired').length;") == 1);
    CHECK(f.session.find(testid("explain-ttl")).property("value") == "10s");
    f.shot("explain-ttl");

    // A bad one: the API's words in the page, the value kept in the field to be corrected.
    ttl = f.session.find(testid("explain-ttl"));
    ttl.clear();
    ttl.send_keys("soon");
    f.session.find(testid("explain-apply")).click();
    CHECK(f.session.wait_for_text(testid("view-error"), "`ttl`") ==
          "`ttl` expects a duration such as 90s, 15m, 2h, 7d or plain seconds, found \"soon\"");
    CHECK(f.session.find(testid("explain-ttl")).property("value") == "soon");
    CHECK(f.session.find_all(testid("explain-step")).empty());
    f.shot("explain-ttl-refused");
}

TEST_CASE("dashboard: --read-only shows no actions and refuses a POST") {
    FAILPIPE_BROWSER_OR_SKIP();
    const auto set = fill_known_set(redis_test::test_redis_url(), redis_test::unique_prefix("browser"));
    const auto token_file = std::filesystem::temp_directory_path() / ("failpipe-browser-token-" + std::to_string(::getpid()));
    std::ofstream(token_file) << kToken << "\n";
    // Readable by its owner only, as the dashboard requires of a token file.
    std::filesystem::permissions(token_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    struct Remove {
        std::filesystem::path path;
        ~Remove() { std::filesystem::remove(path); }
    } remove{token_file};
    // The real command, as an operator starts it.
    DashboardProcess process({"--redis", set.url, "--prefix", set.prefix, "--listen", "127.0.0.1:0", "--read-only",
                              "--token-file", token_file.string()});
    ChromeDriver driver(*browser);
    Session session(driver);
    session.navigate(process.base() + "#token=" + kToken);
    wait_view(session, "overview");
    CHECK(session.find(testid("read-only-marker")).displayed());
    session.navigate(process.base() + "#/channel/orders/dead");
    wait_rows(session, testid("dead-row"), sorted({"t1", "t2", "t3", "n1", "n2", kXssId, set.poison_id}));
    for (const char* action : {"replay-selected", "replay-matching", "purge-matching", "dead-row-select", "select-all"})
        CHECK_MESSAGE(!any_shown(session, testid(action)), action << " is shown on a read-only dashboard");
    session.screenshot(screenshots() / "read-only.png");
    session.navigate(process.base() + "#/channel/orders/groups");
    session.wait_for(testid("group-row"));
    CHECK_FALSE(any_shown(session, testid("group-replay")));
    session.navigate(process.base() + "#/channel/orders/message/t1");
    session.wait_for(testid("detail-panel"));
    CHECK_FALSE(any_shown(session, testid("detail-replay")));
    CHECK_FALSE(any_shown(session, testid("detail-purge")));

    // The right token does not help: every mutating request is refused, nothing moves.
    const auto replay = api_post(process.port(), "/api/replay", {{"channel", "orders"}});
    REQUIRE(replay);
    CHECK(replay->status == 403);
    CHECK(replay->body.find("read-only") != std::string::npos);
    const auto purge = api_post(process.port(), "/api/purge", {{"channel", "orders"}, {"confirm", "orders"}});
    REQUIRE(purge);
    CHECK(purge->status == 403);
    CHECK(cli_dead_letter_ids(set, "orders").size() == KnownSet::kOrdersDead);
}

TEST_CASE("dashboard: a view's URL opened in a new browser session lands on the same view") {
    FAILPIPE_BROWSER_OR_SKIP();
    Fixture f(*browser);
    f.open("/");
    // Followed by links, as an operator would.
    f.session.wait_for(with("channel-row", "data-channel", "orders") + " " + testid("channel-link-groups")).click();
    wait_view(f.session, "groups");
    f.session.wait_for(with("group-row", "data-fingerprint", KnownSet::timeout_fingerprint()) + " " + testid("group-link"))
        .click();
    wait_rows(f.session, testid("dead-row"), KnownSet::timeout_ids());
    const std::string group_url = f.session.url();
    const std::string group_title = f.session.find(testid("view-title")).text();
    f.session.find(with("dead-row", "data-id", "t2") + " " + testid("dead-row-link")).click();
    wait_attribute(f.session, testid("detail-panel"), "data-id", "t2");
    const std::string message_url = f.session.url();

    // A colleague's browser: another profile, no token, the pasted URLs.
    Session colleague(f.driver);
    colleague.navigate(group_url);
    wait_view(colleague, "dead");
    wait_rows(colleague, testid("dead-row"), KnownSet::timeout_ids());
    CHECK(colleague.find(testid("view-title")).text() == group_title);
    colleague.navigate(message_url);
    wait_attribute(colleague, testid("detail-panel"), "data-id", "t2");
}

TEST_CASE("dashboard: a wrong token on an action shows a clear error in the page and changes nothing") {
    FAILPIPE_BROWSER_OR_SKIP();
    Fixture f(*browser);
    f.open("/channel/orders/groups", "wrong-token-but-long-enough-0000");
    const auto row = f.session.wait_for(with("group-row", "data-fingerprint", KnownSet::timeout_fingerprint()));
    row.find(testid("group-replay")).click();
    // The dry run may be refused already; if it is not, the replay itself is.
    if (const auto confirm = f.session.find_optional(testid("replay-confirm")); confirm && shown_error(f.session).empty()) {
        f.session.wait_until([&] { return !shown_error(f.session).empty() || confirm->displayed(); }, "the dry run");
        if (shown_error(f.session).empty()) confirm->click();
    }
    CHECK(wait_error(f.session, "wrong token").find("wrong token") != std::string::npos);
    f.shot("wrong-token");
    CHECK(f.dead_ids() == f.all_orders_dead());
}

TEST_CASE("dashboard: a forged cross-site POST from another page moves nothing") {
    FAILPIPE_BROWSER_OR_SKIP();
    Fixture f(*browser);
    const std::string target = f.dashboard.base() + "api/purge";
    // Another site the operator visits: it knows the token even, and tries a script and a form.
    const std::string page = R"html(<!doctype html><html><body>
<form id="forged" method="POST" action=")html" + target + R"html(" enctype="text/plain">
<input name='{"channel":"orders","confirm":"orders","x":"' value='"}'></form>
<script>
fetch(')html" + target + R"html(', {method: 'POST', mode: 'no-cors', headers: {'Content-Type': 'text/plain'},
      body: JSON.stringify({channel: 'orders', confirm: 'orders'})})
  .catch(() => {})
  .then(() => fetch(')html" + target + R"html(', {method: 'POST', headers: {'Content-Type': 'application/json',
      'X-Failpipe-Token': ')html" + kToken + R"html('}, body: JSON.stringify({channel: 'orders', confirm: 'orders'})}))
  .catch(() => {})
  .finally(() => document.getElementById('forged').submit());
</script></body></html>)html";
    StaticSite evil(Pages{{"/", page}});
    f.session.navigate(evil.url());
    // The form's answer is the dashboard's refusal, shown in the browser.
    f.session.wait_until([&] { return f.session.url().find("/api/purge") != std::string::npos; }, "the forged form to be sent");
    const std::string answer = f.session.execute("return document.body.textContent;").get<std::string>();
    INFO("the dashboard answered: " << answer);
    CHECK((answer.find("cross-site") != std::string::npos || answer.find("token") != std::string::npos));
    CHECK(f.dead_ids() == f.all_orders_dead());
    CHECK(f.set.adapter->depth("orders:dlq").ready == KnownSet::kOrdersDead);
}

TEST_CASE("dashboard: a filter regex that does not compile and an unknown id get clear answers, in the page and the API") {
    FAILPIPE_BROWSER_OR_SKIP();
    Fixture f(*browser);
    httplib::Client client("127.0.0.1", f.dashboard.port());
    client.set_read_timeout(10);
    // The page shows the API's own answer.
    const auto dead = client.Get(("/api/dead?channel=orders&grep=" + component("order [")).c_str());
    REQUIRE(dead);
    CHECK(dead->status == 400);
    const std::string regex_error = nlohmann::json::parse(dead->body).at("error").get<std::string>();
    CHECK(regex_error.find("grep \"order [\" is not a valid regular expression") != std::string::npos);
    f.open("/channel/orders/dead?grep=" + component("order ["));
    wait_error(f.session, regex_error);
    CHECK(f.session.find_all(testid("dead-row")).empty());
    f.shot("bad-regex");

    const auto message = client.Get("/api/message?channel=orders&id=nobody");
    REQUIRE(message);
    CHECK(message->status == 404);
    const std::string missing = nlohmann::json::parse(message->body).at("error").get<std::string>();
    CHECK(missing.find("nobody") != std::string::npos);
    f.session.navigate(f.dashboard.at("/channel/orders/message/nobody"));
    wait_error(f.session, missing);
    f.shot("unknown-id");
    CHECK(f.dead_ids() == f.all_orders_dead());
}

TEST_CASE("dashboard: the broker going away while the page is open shows a banner, and the page recovers when it is back") {
    FAILPIPE_BROWSER_OR_SKIP();
    redis_test::RedisServer server;  // a private one: this test stops and restarts it by its PID
    const auto set = fill_known_set(server.url(), redis_test::unique_prefix("browser"));
    RunningDashboard dashboard(set.adapter);
    ChromeDriver driver(*browser);
    Session session(driver);
    session.navigate(dashboard.with_token());
    wait_view(session, "overview");
    session.wait_until([&] { return overview_counts(session)["orders"]["dead"] == "7"; }, "the overview's counts");

    server.stop(SIGKILL);
    wait_attribute(session, testid("error-banner"), "data-kind", "broker", 20s);
    session.wait_until([&] { return session.find(testid("error-banner")).displayed(); }, "the banner to show");
    CHECK(session.find(testid("error-banner")).text().find("broker unreachable") != std::string::npos);
    session.screenshot(screenshots() / "broker-away.png");

    server.restart();  // same port, same data (AOF)
    session.wait_until([&] { return !session.find(testid("error-banner")).displayed(); }, "the banner to go", 30s);
    session.wait_until([&] { return overview_counts(session)["orders"]["dead"] == "7"; }, "the overview's counts again", 15s);
}

TEST_CASE("dashboard: a replay confirmed while the broker is down shows broker unreachable and starts nothing") {
    FAILPIPE_BROWSER_OR_SKIP();
    redis_test::RedisServer server;  // a private one: this test stops and restarts it by its PID
    const auto set = fill_known_set(server.url(), redis_test::unique_prefix("browser"));
    RunningDashboard dashboard(set.adapter);
    ChromeDriver driver(*browser);
    Session session(driver);
    session.navigate(dashboard.with_token());
    wait_view(session, "overview");
    session.navigate(dashboard.at("/channel/orders/groups"));
    const auto row = session.wait_for(with("group-row", "data-fingerprint", KnownSet::timeout_fingerprint()));
    row.find(testid("group-replay")).click();
    wait_attribute(session, testid("dry-run-count"), "data-replay", "3");

    server.stop(SIGKILL);
    session.find(testid("replay-confirm")).click();
    const std::string shown = wait_error(session, "nothing was replayed", 20s);
    CHECK(shown.find("broker unreachable") != std::string::npos);
    CHECK_FALSE(any_shown(session, testid("job-progress")));  // no job was started to fail later
    session.screenshot(screenshots() / "replay-broker-down.png");

    server.restart();  // same port, same data (AOF)
    CHECK(cli_dead_letter_ids(set, "orders").size() == KnownSet::kOrdersDead);
    CHECK(set.adapter->depth("orders").ready == KnownSet::kOrdersReady);
}
