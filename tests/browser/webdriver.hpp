// A small W3C WebDriver client for the browser tests: a chromedriver process of the test's own (started
// on a free loopback port, ended by its PID), a headless Chromium session on a fresh profile, and the
// few commands the dashboard tests need. Every wait is bounded; a command that fails throws
// WebDriverError with the driver's own message.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "failpipe/error.hpp"

namespace failpipe::browser_test {

/// A WebDriver command failed, or a wait ran out of time: the text says which and why.
class WebDriverError : public Error {
public:
    using Error::Error;
};

/// The browser and its driver.
struct BrowserBinaries {
    std::string chromium;
    std::string chromedriver;
};

/// The binaries (FAILPIPE_CHROMIUM and FAILPIPE_CHROMEDRIVER, else /usr/bin/chromium and
/// /usr/bin/chromedriver), or nothing with @p why_not saying what is missing.
std::optional<BrowserBinaries> find_browser(std::string* why_not = nullptr);

/// The CSS selector of the element with that data-testid.
std::string testid(std::string_view name);

/// Standard base64 (RFC 4648) to bytes; WebDriverError on a character outside the alphabet.
std::string base64_decode(std::string_view text);

/// Where screenshots go: $FAILPIPE_SCREENSHOT_DIR, else @p fallback. Created when missing.
std::filesystem::path screenshot_dir(const std::filesystem::path& fallback);

/// A chromedriver process on 127.0.0.1, in a process group of its own (so the browsers it starts
/// can be ended with it). Ended by its PID when the object ends, whatever happened.
class ChromeDriver {
public:
    explicit ChromeDriver(BrowserBinaries binaries);
    ChromeDriver(const ChromeDriver&) = delete;
    ChromeDriver& operator=(const ChromeDriver&) = delete;
    ~ChromeDriver();

    int port() const noexcept { return port_; }
    pid_t pid() const noexcept { return pid_; }
    const BrowserBinaries& binaries() const noexcept { return binaries_; }
    /// The driver's log (its stdout and stderr), for a failure's diagnostics.
    std::string log_tail(std::size_t bytes = 4000) const;

    /// One WebDriver command: its `value`, or WebDriverError naming @p what and the driver's error.
    nlohmann::json command(const std::string& method, const std::string& path, const nlohmann::json& body,
                           const std::string& what) const;

private:
    bool start_on(int port);
    void stop() noexcept;

    BrowserBinaries binaries_;
    std::filesystem::path dir_;
    int port_ = 0;
    pid_t pid_ = -1;
};

class Session;

/// An element of the page (a WebDriver element reference).
class Element {
public:
    std::string text() const;
    /// The attribute's value, or empty when the element has no such attribute.
    std::string attribute(const std::string& name) const;
    /// A DOM property (`value`, `checked`, ...).
    nlohmann::json property(const std::string& name) const;
    bool displayed() const;
    bool enabled() const;
    void click() const;
    void clear() const;
    void send_keys(const std::string& keys) const;
    Element find(const std::string& css) const;
    std::vector<Element> find_all(const std::string& css) const;
    const std::string& reference() const noexcept { return reference_; }
    /// The reference as a script argument (execute(script, {element.as_argument()})).
    nlohmann::json as_argument() const;

private:
    friend class Session;
    Element(const Session* session, std::string reference) : session_(session), reference_(std::move(reference)) {}
    std::string path(const std::string& tail) const;

    const Session* session_;
    std::string reference_;
};

struct SessionOptions {
    int width = 1280;
    int height = 900;
    std::chrono::milliseconds page_load{20'000};
    std::chrono::milliseconds script{10'000};
};

/// A headless Chromium session on a fresh profile directory (removed at the end).
class Session {
public:
    explicit Session(ChromeDriver& driver, SessionOptions options = {});
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    ~Session();

    void navigate(const std::string& url);
    void refresh();
    std::string url() const;
    std::string title() const;

    Element find(const std::string& css) const;
    std::optional<Element> find_optional(const std::string& css) const;
    std::vector<Element> find_all(const std::string& css) const;

    /// Runs @p script as a function body (arguments in `arguments`) and returns what it returns.
    nlohmann::json execute(const std::string& script, const nlohmann::json& args = nlohmann::json::array()) const;
    /// The page as a PNG, written to @p file (its folder created); returns @p file.
    std::filesystem::path screenshot(const std::filesystem::path& file) const;

    /// Waits until @p condition returns true, checking every 50 ms, at most @p bound; a WebDriverError
    /// thrown by the condition (an element not there yet, or replaced) counts as "not yet". On time
    /// out, WebDriverError "timed out after N ms waiting for <what>" with the last error seen.
    void wait_until(const std::function<bool()>& condition, const std::string& what,
                    std::chrono::milliseconds bound = std::chrono::milliseconds(10'000)) const;
    /// Waits for an element matching @p css and returns it.
    Element wait_for(const std::string& css, std::chrono::milliseconds bound = std::chrono::milliseconds(10'000)) const;
    /// Waits until the element matching @p css shows text containing @p needle; returns its whole text.
    std::string wait_for_text(const std::string& css, const std::string& needle,
                              std::chrono::milliseconds bound = std::chrono::milliseconds(10'000)) const;

    nlohmann::json command(const std::string& method, const std::string& tail, const nlohmann::json& body,
                           const std::string& what) const;
    const ChromeDriver& driver() const noexcept { return driver_; }

private:
    friend class Element;
    static std::vector<Element> elements_of(const Session* session, const nlohmann::json& value);

    ChromeDriver& driver_;
    std::filesystem::path profile_;
    std::string id_;
};

}  // namespace failpipe::browser_test
