#include "webdriver.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <httplib.h>

namespace failpipe::browser_test {

using namespace std::chrono_literals;

namespace {

// The W3C name of an element reference in JSON.
constexpr const char* kElementKey = "element-6066-11e4-a52e-4f735466cecf";

std::string env_or(const char* name, const char* fallback) {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? value : fallback;
}

int free_loopback_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw WebDriverError("cannot open a socket to find a free port");
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 &&
                    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
    ::close(fd);
    if (!ok) throw WebDriverError("cannot bind a loopback socket to find a free port");
    return ntohs(address.sin_port);
}

std::filesystem::path make_temp_dir(const char* stem) {
    std::string pattern = (std::filesystem::temp_directory_path() / (std::string(stem) + ".XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) throw WebDriverError(std::string("cannot create a temporary directory for ") + stem);
    return pattern;
}

// Waits for @p pid for at most @p bound; true when it ended (and was reaped).
bool reap_within(pid_t pid, std::chrono::milliseconds bound) {
    const auto give_up = std::chrono::steady_clock::now() + bound;
    int status = 0;
    while (std::chrono::steady_clock::now() < give_up) {
        const pid_t done = ::waitpid(pid, &status, WNOHANG);
        if (done == pid || done < 0) return true;
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

std::string clip(std::string text, std::size_t bound = 600) {
    if (text.size() > bound) text = text.substr(0, bound) + "...";
    return text;
}

}  // namespace

std::optional<BrowserBinaries> find_browser(std::string* why_not) {
    BrowserBinaries binaries{env_or("FAILPIPE_CHROMIUM", "/usr/bin/chromium"),
                             env_or("FAILPIPE_CHROMEDRIVER", "/usr/bin/chromedriver")};
    std::string missing;
    if (::access(binaries.chromium.c_str(), X_OK) != 0) missing += binaries.chromium + " (Debian package chromium)";
    if (::access(binaries.chromedriver.c_str(), X_OK) != 0) {
        if (!missing.empty()) missing += " and ";
        missing += binaries.chromedriver + " (Debian package chromium-driver)";
    }
    if (missing.empty()) return binaries;
    if (why_not != nullptr) *why_not = "not found: " + missing;
    return std::nullopt;
}

std::string testid(std::string_view name) { return "[data-testid=\"" + std::string(name) + "\"]"; }

std::string base64_decode(std::string_view text) {
    static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve(text.size() / 4 * 3);
    unsigned buffer = 0;
    int bits = 0;
    for (const char c : text) {
        if (c == '=' || c == '\n' || c == '\r') continue;
        const auto index = kAlphabet.find(c);
        if (index == std::string_view::npos) throw WebDriverError("base64: unexpected character in a screenshot");
        buffer = (buffer << 6) | static_cast<unsigned>(index);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((buffer >> bits) & 0xFFu));
        }
    }
    return out;
}

std::filesystem::path screenshot_dir(const std::filesystem::path& fallback) {
    const std::filesystem::path dir = env_or("FAILPIPE_SCREENSHOT_DIR", fallback.c_str());
    std::filesystem::create_directories(dir);
    return dir;
}

// ---- ChromeDriver ----

ChromeDriver::ChromeDriver(BrowserBinaries binaries) : binaries_(std::move(binaries)), dir_(make_temp_dir("failpipe-chromedriver")) {
    // The browsers outlive the driver for a moment when it ends; as their subreaper this process
    // reaps them itself at once (init may take a second to do it).
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    for (int attempt = 0; attempt < 5; ++attempt) {
        if (start_on(free_loopback_port())) return;
    }
    const std::string log = log_tail();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw WebDriverError("chromedriver did not start (5 attempts); its log ends with:\n" + log);
}

ChromeDriver::~ChromeDriver() {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
}

bool ChromeDriver::start_on(int port) {
    const std::string log = (dir_ / "chromedriver.log").string();
    std::vector<std::string> args = {binaries_.chromedriver, "--port=" + std::to_string(port), "--allowed-ips=127.0.0.1"};
    const pid_t child = ::fork();
    if (child < 0) throw WebDriverError("fork failed starting chromedriver");
    if (child == 0) {
        // A group of its own: the browsers it starts are in it, and end with it (see stop()).
        ::setpgid(0, 0);
        // Should the test process die (a ctest timeout), the driver goes with it.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            ::dup2(fd, STDOUT_FILENO);
            ::dup2(fd, STDERR_FILENO);
            ::close(fd);
        }
        std::vector<char*> argv;
        for (auto& arg : args) argv.push_back(arg.data());
        argv.push_back(nullptr);
        ::execv(binaries_.chromedriver.c_str(), argv.data());
        ::_exit(127);
    }
    ::setpgid(child, child);  // also from this side: no window in which the group does not exist yet
    pid_ = child;
    port_ = port;
    const auto give_up = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < give_up) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;  // it ended (the port was taken after all): try another
            return false;
        }
        httplib::Client client("127.0.0.1", port_);
        client.set_connection_timeout(1);
        client.set_read_timeout(2);
        if (auto reply = client.Get("/status"); reply && reply->status == 200) {
            const auto body = nlohmann::json::parse(reply->body, nullptr, false);
            if (!body.is_discarded() && body.value("value", nlohmann::json::object()).value("ready", false)) return true;
        }
        std::this_thread::sleep_for(50ms);
    }
    stop();
    return false;
}

void ChromeDriver::stop() noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    if (!reap_within(pid_, 3s)) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    // What the driver started and left (a browser of a session never ended, or one still shutting
    // down) is in the group whose id is the driver's PID. Its profile is a throw-away directory:
    // nothing to save, so SIGKILL; they are orphans of this process now (a subreaper, see the
    // constructor), so it reaps them, until none is left (bounded).
    const auto give_up = std::chrono::steady_clock::now() + 5s;
    while (::kill(-pid_, 0) == 0 && std::chrono::steady_clock::now() < give_up) {
        ::kill(-pid_, SIGKILL);
        while (::waitpid(-pid_, nullptr, WNOHANG) > 0) {
        }
        std::this_thread::sleep_for(5ms);
    }
    pid_ = -1;
}

std::string ChromeDriver::log_tail(std::size_t bytes) const {
    std::ifstream in(dir_ / "chromedriver.log", std::ios::binary);
    std::stringstream all;
    all << in.rdbuf();
    std::string text = all.str();
    return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

nlohmann::json ChromeDriver::command(const std::string& method, const std::string& path, const nlohmann::json& body,
                                     const std::string& what) const {
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(5);
    client.set_read_timeout(60);  // a new session starts a browser; a navigation waits for its page
    client.set_write_timeout(10);
    httplib::Result reply = method == "GET"      ? client.Get(path.c_str())
                            : method == "DELETE" ? client.Delete(path.c_str())
                                                 : client.Post(path.c_str(), body.dump(), "application/json");
    if (!reply) throw WebDriverError(what + ": no answer from chromedriver (" + httplib::to_string(reply.error()) + ")");
    const auto parsed = nlohmann::json::parse(reply->body, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
        throw WebDriverError(what + ": chromedriver answered " + std::to_string(reply->status) + " with " + clip(reply->body));
    }
    nlohmann::json value = parsed.value("value", nlohmann::json());
    if (reply->status != 200) {
        const std::string error = value.is_object() ? value.value("error", "unknown error") : "unknown error";
        const std::string message = value.is_object() ? value.value("message", "") : "";
        throw WebDriverError(what + ": " + error + ": " + clip(message));
    }
    return value;
}

// ---- Element ----

std::string Element::path(const std::string& tail) const { return "/element/" + reference_ + tail; }

std::string Element::text() const {
    return session_->command("GET", path("/text"), {}, "text of an element").get<std::string>();
}

std::string Element::attribute(const std::string& name) const {
    const auto value = session_->command("GET", path("/attribute/" + name), {}, "attribute " + name);
    return value.is_string() ? value.get<std::string>() : std::string();
}

nlohmann::json Element::property(const std::string& name) const {
    return session_->command("GET", path("/property/" + name), {}, "property " + name);
}

bool Element::displayed() const {
    return session_->command("GET", path("/displayed"), {}, "is an element displayed").get<bool>();
}

bool Element::enabled() const {
    return session_->command("GET", path("/enabled"), {}, "is an element enabled").get<bool>();
}

void Element::click() const { session_->command("POST", path("/click"), nlohmann::json::object(), "click"); }

void Element::clear() const { session_->command("POST", path("/clear"), nlohmann::json::object(), "clear"); }

void Element::send_keys(const std::string& keys) const {
    session_->command("POST", path("/value"), {{"text", keys}}, "type into an element");
}

Element Element::find(const std::string& css) const {
    const auto value =
        session_->command("POST", path("/element"), {{"using", "css selector"}, {"value", css}}, "find " + css);
    return Element(session_, value.at(kElementKey).get<std::string>());
}

std::vector<Element> Element::find_all(const std::string& css) const {
    return Session::elements_of(
        session_, session_->command("POST", path("/elements"), {{"using", "css selector"}, {"value", css}}, "find all " + css));
}

nlohmann::json Element::as_argument() const { return {{kElementKey, reference_}}; }

// ---- Session ----

Session::Session(ChromeDriver& driver, SessionOptions options)
    : driver_(driver), profile_(make_temp_dir("failpipe-chromium-profile")) {
    const nlohmann::json args = {"--headless",
                                 "--no-sandbox",
                                 "--disable-gpu",
                                 "--disable-dev-shm-usage",
                                 "--disable-quic",
                                 "--no-first-run",
                                 "--no-default-browser-check",
                                 "--disable-background-networking",
                                 "--disable-component-update",
                                 "--disable-sync",
                                 "--disable-extensions",
                                 "--disable-breakpad",
                                 "--disable-crash-reporter",
                                 "--user-data-dir=" + profile_.string(),
                                 "--window-size=" + std::to_string(options.width) + "," + std::to_string(options.height)};
    const nlohmann::json capabilities = {
        {"capabilities",
         {{"alwaysMatch",
           {{"browserName", "chrome"},
            {"pageLoadStrategy", "normal"},
            {"timeouts", {{"implicit", 0}, {"pageLoad", options.page_load.count()}, {"script", options.script.count()}}},
            {"goog:chromeOptions", {{"binary", driver.binaries().chromium}, {"args", args}}}}}}}};
    try {
        const auto value = driver_.command("POST", "/session", capabilities, "new session");
        id_ = value.at("sessionId").get<std::string>();
    } catch (const std::exception& e) {
        std::error_code ignored;
        std::filesystem::remove_all(profile_, ignored);
        throw WebDriverError(std::string(e.what()) + "\nchromedriver's log ends with:\n" + driver_.log_tail());
    }
}

Session::~Session() {
    try {
        driver_.command("DELETE", "/session/" + id_, {}, "end session");
    } catch (...) {
        // The driver's own end (ChromeDriver::stop) ends the browser too.
    }
    std::error_code ignored;
    std::filesystem::remove_all(profile_, ignored);
}

nlohmann::json Session::command(const std::string& method, const std::string& tail, const nlohmann::json& body,
                                const std::string& what) const {
    return driver_.command(method, "/session/" + id_ + tail, body, what);
}

void Session::navigate(const std::string& url) { command("POST", "/url", {{"url", url}}, "navigate to " + url); }

void Session::refresh() { command("POST", "/refresh", nlohmann::json::object(), "refresh"); }

std::string Session::url() const { return command("GET", "/url", {}, "current URL").get<std::string>(); }

std::string Session::title() const { return command("GET", "/title", {}, "title").get<std::string>(); }

std::vector<Element> Session::elements_of(const Session* session, const nlohmann::json& value) {
    std::vector<Element> out;
    for (const auto& item : value) out.push_back(Element(session, item.at(kElementKey).get<std::string>()));
    return out;
}

Element Session::find(const std::string& css) const {
    const auto value = command("POST", "/element", {{"using", "css selector"}, {"value", css}}, "find " + css);
    return Element(this, value.at(kElementKey).get<std::string>());
}

std::optional<Element> Session::find_optional(const std::string& css) const {
    auto all = find_all(css);
    if (all.empty()) return std::nullopt;
    return all.front();
}

std::vector<Element> Session::find_all(const std::string& css) const {
    return elements_of(this, command("POST", "/elements", {{"using", "css selector"}, {"value", css}}, "find all " + css));
}

nlohmann::json Session::execute(const std::string& script, const nlohmann::json& args) const {
    return command("POST", "/execute/sync", {{"script", script}, {"args", args}}, "execute script");
}

std::filesystem::path Session::screenshot(const std::filesystem::path& file) const {
    const std::string png = base64_decode(command("GET", "/screenshot", {}, "screenshot").get<std::string>());
    if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(png.data(), static_cast<std::streamsize>(png.size()));
    if (!out) throw WebDriverError("cannot write the screenshot " + file.string());
    return file;
}

void Session::wait_until(const std::function<bool()>& condition, const std::string& what,
                         std::chrono::milliseconds bound) const {
    const auto give_up = std::chrono::steady_clock::now() + bound;
    std::string last_error;
    for (;;) {
        try {
            if (condition()) return;
        } catch (const WebDriverError& e) {
            last_error = e.what();
        }
        if (std::chrono::steady_clock::now() >= give_up) break;
        std::this_thread::sleep_for(50ms);
    }
    throw WebDriverError("timed out after " + std::to_string(bound.count()) + " ms waiting for " + what +
                         (last_error.empty() ? std::string() : " (last error: " + last_error + ")"));
}

Element Session::wait_for(const std::string& css, std::chrono::milliseconds bound) const {
    std::optional<Element> found;
    wait_until([&] { return (found = find_optional(css)).has_value(); }, "an element " + css, bound);
    return *found;
}

std::string Session::wait_for_text(const std::string& css, const std::string& needle, std::chrono::milliseconds bound) const {
    std::optional<std::string> text;
    try {
        wait_until(
            [&] {
                const auto element = find_optional(css);
                if (!element) return false;
                text = element->text();
                return text->find(needle) != std::string::npos;
            },
            "\"" + needle + "\" in " + css, bound);
    } catch (const WebDriverError& e) {
        throw WebDriverError(std::string(e.what()) +
                             (text ? "; it shows \"" + clip(*text, 300) + "\"" : "; no such element on the page"));
    }
    return *text;
}

}  // namespace failpipe::browser_test
