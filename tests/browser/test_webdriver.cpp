// The WebDriver client itself, against a static page served from the test: finding, typing, clicking,
// scripts, bounded waits, screenshots, and that every process it started ends with it.
#include <doctest/doctest.h>

#include <signal.h>

#include <cerrno>
#include <fstream>
#include <iterator>

#include "browser_test_support.hpp"
#include "known_set.hpp"

using namespace failpipe::browser_test;
using namespace std::chrono_literals;

namespace {

// Untrusted text as a dashboard receives it: shown with textContent, it must stay text.
constexpr const char* kPage = R"html(<!doctype html>
<html><head><meta charset="utf-8"><title>failpipe smoke</title></head>
<body>
<h1 data-testid="heading">smoke</h1>
<input data-testid="name" value="">
<button data-testid="greet" onclick="document.querySelector('[data-testid=greeting]').textContent = 'hello ' + document.querySelector('[data-testid=name]').value">greet</button>
<p data-testid="greeting"></p>
<ul data-testid="rows"><li>a</li><li>b</li><li>c</li></ul>
<p data-testid="untrusted"></p>
<p data-testid="late-holder"></p>
<a data-testid="link" href="/second?view=groups#top">second</a>
<script>
  document.querySelector('[data-testid=untrusted]').textContent =
      '<script>window.__xss=1</scr' + 'ipt> "><img src=x onerror="window.__xss=1">';
  setTimeout(function () {
    var p = document.createElement('p');
    p.setAttribute('data-testid', 'late');
    p.textContent = 'arrived';
    document.body.appendChild(p);
  }, 300);
</script>
</body></html>)html";

constexpr const char* kSecond = R"html(<!doctype html><html><head><title>second</title></head>
<body><p data-testid="where"></p><script>document.querySelector('[data-testid=where]').textContent = location.search;</script></body></html>)html";

}  // namespace

TEST_CASE("webdriver: finds, types, clicks and reads a page served on loopback") {
    auto browser = browser_or_skip();
    if (!browser) return;
    StaticSite site(Pages{{"/", kPage}, {"/second", kSecond}});
    ChromeDriver driver(*browser);
    Session session(driver);
    session.navigate(site.url());
    CHECK(session.title() == "failpipe smoke");
    CHECK(session.find(testid("heading")).text() == "smoke");
    CHECK(session.find(testid("rows")).find_all("li").size() == 3);

    session.find(testid("name")).send_keys("operator");
    CHECK(session.find(testid("name")).property("value") == "operator");
    session.find(testid("greet")).click();
    CHECK(session.wait_for_text(testid("greeting"), "hello operator") == "hello operator");

    // A late element is waited for, within the bound.
    CHECK(session.wait_for(testid("late")).text() == "arrived");

    // Untrusted text stays text: shown as typed, no script ran, no image element was made.
    CHECK(session.find(testid("untrusted")).text().find("<script>window.__xss=1</script>") != std::string::npos);
    CHECK(session.execute("return typeof window.__xss;") == "undefined");
    CHECK(session.find(testid("untrusted")).find_all("img").empty());

    // A link keeps its query: the second page reads it from its own URL.
    session.find(testid("link")).click();
    CHECK(session.wait_for_text(testid("where"), "view=groups") == "?view=groups");
    CHECK(session.url() == site.url("/second?view=groups#top"));
}

TEST_CASE("webdriver: a screenshot is a PNG file of the page") {
    auto browser = browser_or_skip();
    if (!browser) return;
    StaticSite site(Pages{{"/", kPage}});
    ChromeDriver driver(*browser);
    Session session(driver);
    session.navigate(site.url());
    const auto file = session.screenshot(screenshots() / "webdriver-smoke.png");
    std::ifstream in(file, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(bytes.size() > 1000);
    CHECK(bytes.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
}

TEST_CASE("webdriver: a missing element and a wait that never ends give clear errors, in bounded time") {
    auto browser = browser_or_skip();
    if (!browser) return;
    StaticSite site(Pages{{"/", kPage}});
    ChromeDriver driver(*browser);
    Session session(driver);
    session.navigate(site.url());
    CHECK_THROWS_WITH_AS(session.find(testid("nobody")), doctest::Contains("no such element"), WebDriverError);
    CHECK_FALSE(session.find_optional(testid("nobody")).has_value());
    const auto begin = std::chrono::steady_clock::now();
    CHECK_THROWS_WITH_AS(session.wait_for_text(testid("heading"), "never", 400ms),
                         doctest::Contains("timed out after 400 ms waiting for \"never\""), WebDriverError);
    CHECK(std::chrono::steady_clock::now() - begin < 10s);
    CHECK_THROWS_WITH_AS(session.wait_for_text(testid("heading"), "never", 100ms), doctest::Contains("it shows \"smoke\""),
                         WebDriverError);
}

TEST_CASE("webdriver: the driver and its browser end with the objects") {
    auto browser = browser_or_skip();
    if (!browser) return;
    pid_t driver_pid = -1;
    {
        ChromeDriver driver(*browser);
        driver_pid = driver.pid();
        REQUIRE(driver_pid > 0);
        {
            Session session(driver);
            // The browser runs in the driver's process group.
            CHECK(::kill(-driver_pid, 0) == 0);
        }
    }
    errno = 0;
    CHECK(::kill(driver_pid, 0) == -1);
    CHECK(errno == ESRCH);
    errno = 0;
    CHECK(::kill(-driver_pid, 0) == -1);  // nothing of its group is left
    CHECK(errno == ESRCH);
}

TEST_CASE("webdriver: the XSS detector of the dashboard tests sees a page that renders untrusted text as HTML") {
    auto browser = browser_or_skip();
    if (!browser) return;
    // The same samples as the known set, once as text (safe) and once through innerHTML (not).
    const std::string sample = std::string(kXssScript) + " " + kXssAttribute;
    const std::string script = "const sample = " + nlohmann::json(sample).dump() + R"js(;
        document.getElementById('safe').textContent = sample;
        if (location.search === '?unsafe') document.getElementById('unsafe').innerHTML = sample;)js";
    StaticSite site(Pages{{"/", R"html(<!doctype html><html><body><p id="safe"></p><p id="unsafe"></p>
                                      <script src="/render.js"></script></body></html>)html"},
                          {"/render.js", script}});
    ChromeDriver driver(*browser);
    Session session(driver);
    session.navigate(site.url("/"));
    CHECK(session.find("#safe").text() == sample);
    CHECK(xss_findings(session) == "");
    session.navigate(site.url("/?unsafe"));
    std::string findings;
    session.wait_until([&] { return (findings = xss_findings(session)).find("window.__xss") != std::string::npos; },
                       "the injected onerror to run", 5s);
    CHECK(findings.find("window.__xss is 1") != std::string::npos);
    CHECK(findings.find("onerror") != std::string::npos);
}

TEST_CASE("webdriver: base64 decodes what screenshots carry") {
    CHECK(base64_decode("") == "");
    CHECK(base64_decode("Zg==") == "f");
    CHECK(base64_decode("Zm8=") == "fo");
    CHECK(base64_decode("Zm9v") == "foo");
    CHECK(base64_decode("iVBORw0KGgo=") == std::string("\x89PNG\r\n\x1a\n", 8));
    CHECK_THROWS_AS(base64_decode("Zm9v!"), WebDriverError);
}
