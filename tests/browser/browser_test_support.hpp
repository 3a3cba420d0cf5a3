// Helpers of the browser tests: finding the browser (skip, or fail when FAILPIPE_REQUIRE_BROWSER=1),
// the screenshot folder, and a static site served on loopback for the client's own checks.
#pragma once

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <httplib.h>

#include "webdriver.hpp"

namespace failpipe::browser_test {

/// Printed when a test is skipped; ctest's SKIP_REGULAR_EXPRESSION turns it into "Skipped".
inline constexpr const char* kSkipMarker = "failpipe-browser: SKIPPED";

/// The browser, or nothing after printing why the test is skipped. With FAILPIPE_REQUIRE_BROWSER=1
/// (CI), a missing browser fails the test instead.
inline std::optional<BrowserBinaries> browser_or_skip() {
    std::string why_not;
    auto binaries = find_browser(&why_not);
    if (binaries) return binaries;
    const char* required = std::getenv("FAILPIPE_REQUIRE_BROWSER");
    if (required != nullptr && std::string(required) == "1") {
        FAIL("FAILPIPE_REQUIRE_BROWSER=1 but the browser is missing: " << why_not
                                                                     << " (scripts/ensure-deps.sh --browser installs it)");
    }
    std::cout << kSkipMarker << ": " << why_not << " (install chromium and chromium-driver to run the browser tests)\n";
    return std::nullopt;
}

/// Where this run writes its screenshots ($FAILPIPE_SCREENSHOT_DIR, else <build>/screenshots), said
/// once per process so a reviewer knows where to look.
inline std::filesystem::path screenshots() {
    static const std::filesystem::path dir = [] {
        auto path = screenshot_dir(FAILPIPE_BROWSER_SCREENSHOT_DIR);
        std::cout << "failpipe-browser: screenshots in " << std::filesystem::absolute(path).string() << "\n";
        return path;
    }();
    return dir;
}

/// What the page made of the XSS samples beyond text: empty when nothing ran and no element was made
/// from them, else what was found.
inline std::string xss_findings(const Session& session) {
    return session
        .execute(R"js(
        const found = [];
        if (typeof window.__xss !== 'undefined') found.push('window.__xss is ' + window.__xss);
        const images = document.querySelectorAll('img[src=x], img[onerror], [onerror]').length;
        if (images > 0) found.push(images + ' element(s) with onerror or src=x');
        const inline = Array.from(document.querySelectorAll('script:not([src])'))
                           .filter(s => s.textContent.includes('__xss')).length;
        if (inline > 0) found.push(inline + ' script element(s) holding the sample');
        return found.join('; ');)js")
        .get<std::string>();
}

inline void check_nothing_ran(const Session& session) { CHECK(xss_findings(session) == ""); }

/// Path → HTML.
using Pages = std::map<std::string, std::string>;

/// Pages (and scripts: a path ending in .js) served from memory on 127.0.0.1 on a free port, stopped when the object ends.
class StaticSite {
public:
    explicit StaticSite(Pages pages) : pages_(std::move(pages)) {
        server_.Get(R"(/.*)", [this](const httplib::Request& request, httplib::Response& response) {
            const auto page = pages_.find(request.path);
            if (page == pages_.end()) {
                response.status = 404;
                response.set_content("not found", "text/plain");
                return;
            }
            const bool script = request.path.size() > 3 && request.path.ends_with(".js");
            response.set_content(page->second, script ? "text/javascript; charset=utf-8" : "text/html; charset=utf-8");
        });
        // One request per connection: a browser's idle keep-alive connection never holds up stop().
        server_.set_keep_alive_max_count(1);
        port_ = server_.bind_to_any_port("127.0.0.1");
        REQUIRE(port_ > 0);
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        REQUIRE(server_.is_valid());
    }
    StaticSite(const StaticSite&) = delete;
    StaticSite& operator=(const StaticSite&) = delete;
    ~StaticSite() {
        server_.stop();
        thread_.join();
    }

    std::string url(const std::string& path = "/") const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

private:
    Pages pages_;
    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
};

}  // namespace failpipe::browser_test
