#include "failpipe/dashboard/dashboard_server.hpp"

#include <fcntl.h>
#include <httplib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include "api.hpp"
#include "assets.hpp"
#include "bounded_server.hpp"
#include "host_guard.hpp"
#include "logging.hpp"

namespace failpipe::dashboard {
namespace {

using detail::Api;
using detail::ApiReply;
using detail::Params;

constexpr const char* kTokenHeader = "X-Failpipe-Token";
constexpr std::size_t kMinTokenLength = 16;
constexpr std::size_t kMaxTokenLength = 512;
// A token file is one short line; anything larger is not one.
constexpr std::size_t kMaxTokenFileBytes = 4096;

// No script but our own file, no inline script or style, no framing, no form posting elsewhere.
constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

void send(httplib::Response& response, const ApiReply& reply) {
    response.status = reply.status;
    response.set_header("Cache-Control", "no-store");
    response.set_content(detail::json_body(reply.body), "application/json; charset=utf-8");
}

void send_error(httplib::Response& response, int status, const std::string& message, const std::string& kind = "request") {
    send(response, detail::error_reply(status, message, kind));
}

// Compares without an early exit, so the time taken says nothing about how much of a guess was right.
bool same_token(const std::string& given, const std::string& token) {
    if (given.size() != token.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < token.size(); ++i)
        diff = static_cast<unsigned char>(diff | (static_cast<unsigned char>(given[i]) ^ static_cast<unsigned char>(token[i])));
    return diff == 0;
}

bool is_action(const std::string& path) { return path == "/api/replay" || path == "/api/purge"; }

// What a token may hold: it travels in a header and is pasted by hand.
bool sane_token(const std::string& token) {
    return token.size() >= kMinTokenLength && token.size() <= kMaxTokenLength &&
           std::all_of(token.begin(), token.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

std::string trimmed(const std::string& text) {
    const auto first = text.find_first_not_of(" \t\r");
    if (first == std::string::npos) return {};
    return text.substr(first, text.find_last_not_of(" \t\r") - first + 1);
}

// `application/json`, alone or with `charset=utf-8` (any case, quoted or not); nothing else.
bool json_content_type(const std::string& header) {
    const std::string value = lower(header);
    const auto semicolon = value.find(';');
    if (trimmed(value.substr(0, semicolon)) != "application/json") return false;
    if (semicolon == std::string::npos) return true;
    std::string parameter = trimmed(value.substr(semicolon + 1));
    if (parameter.find(';') != std::string::npos) return false;
    const auto equals = parameter.find('=');
    if (equals == std::string::npos || trimmed(parameter.substr(0, equals)) != "charset") return false;
    const std::string charset = trimmed(parameter.substr(equals + 1));
    return charset == "utf-8" || charset == "\"utf-8\"";
}

bool is_get_endpoint(const std::string& path) {
    static const std::set<std::string> paths{"/api/info", "/api/broker", "/api/overview", "/api/rates",   "/api/dead", "/api/count",
                                             "/api/groups",  "/api/message",  "/api/explain", "/api/job"};
    return paths.count(path) > 0 || detail::find_asset(path) != nullptr;
}

}  // namespace

struct DashboardServer::Impl {
    std::shared_ptr<AdapterInterface> adapter;
    DashboardOptions options;
    std::unique_ptr<Api> api;
    failpipe::detail::BoundedServer server;
    std::thread listener;
    std::uint16_t port = 0;
    detail::HostGuard hosts;              // Host header values accepted (DNS rebinding guard)
    std::atomic<std::size_t> scans{0};    // scans running now, bounded by options.max_scans
    bool started = false;
    bool stopped = false;  // httplib's server and the jobs do not start again once stopped

    void install_routes();
    // The checks every request passes before its handler: Host, and for an action the CSRF guard,
    // read-only, the token and the body's type. True when the request was answered (refused).
    bool refused(const httplib::Request& request, httplib::Response& response) const;
    bool host_allowed(const httplib::Request& request) const;
    // An unknown path (404) or a method the path does not take (405 with Allow), answered before
    // any body is read.
    static bool wrong_route(const httplib::Request& request, httplib::Response& response);
};

bool DashboardServer::Impl::wrong_route(const httplib::Request& request, httplib::Response& response) {
    const bool action = is_action(request.path);
    const bool get = request.method == "GET" || request.method == "HEAD";
    if (!action && !is_get_endpoint(request.path)) {
        send_error(response, 404, "not found: " + request.path.substr(0, 200), "not-found");
    } else if (action ? request.method != "POST" : !get) {
        response.set_header("Allow", action ? "POST" : "GET, HEAD");
        send_error(response, 405, action ? "method not allowed: actions are POST only" : "method not allowed");
    } else {
        return false;
    }
    return true;
}

bool DashboardServer::Impl::host_allowed(const httplib::Request& request) const {
    // A page of another site reached through a rebound DNS name sends that name as Host; so does a
    // request to a non-loopback address whose name the operator did not list.
    return hosts.allows(request.get_header_value("Host"));
}

bool DashboardServer::Impl::refused(const httplib::Request& request, httplib::Response& response) const {
    if (!host_allowed(request)) {
        send_error(response, 403, "unexpected Host header \"" + request.get_header_value("Host").substr(0, 100) +
                                      "\": open the dashboard through the address it printed" +
                                      (options.listen.loopback() ? "" : " or a name allowed by allowed_hosts"),
                   "forbidden");
        return true;
    }
    // httplib 0.11 bounds only a Content-Length body by set_payload_max_length: a chunked one would be
    // read whole. The page never sends one.
    if (request.has_header("Transfer-Encoding")) {
        send_error(response, 411, "a chunked request body is refused: send Content-Length (at most " +
                                      std::to_string(options.max_request_bytes) + " bytes)");
        return true;
    }
    // httplib 0.11 reads "abc" as 0 and "-1" as the largest length; a POST without Content-Length
    // it would wait on until the read timeout. Answered from the headers instead.
    const failpipe::detail::DeclaredLength length = failpipe::detail::declared_length(request);
    if (!length.valid) {
        send_error(response, 400, "bad Content-Length \"" + request.get_header_value("Content-Length").substr(0, 40) +
                                      "\": expected a number of bytes");
        response.set_header("Connection", "close");
        return true;
    }
    if (wrong_route(request, response)) return true;
    if (request.method == "POST" && !length.present) {
        send_error(response, 411, "a request without Content-Length is refused: send the JSON body with its length");
        return true;
    }
    if (request.method != "POST" && length.bytes > 0) {
        send_error(response, 413, "request body too large: only POST /api/replay and /api/purge take a body");
        return true;
    }
    // httplib reads and discards a declared length above its limit before answering 413: a client
    // declaring 99999999999 bytes and sending none would hold a thread until the read timeout.
    if (length.bytes > options.max_request_bytes) {
        send_error(response, 413, "request body too large: at most " + std::to_string(options.max_request_bytes) +
                                      " bytes, found a Content-Length of " + std::to_string(length.bytes));
        return true;
    }
    // Fetch Metadata on reads too: a page of another site could fire costly scans (an <img> with a
    // slow grep) at the operator's dashboard; the dashboard's own page only fetches same-origin.
    const std::string site = request.get_header_value("Sec-Fetch-Site");
    const bool foreign = site == "cross-site" || site == "same-site";
    if (foreign && request.path.rfind("/api/", 0) == 0) {
        send_error(response, 403, "cross-site request refused (Sec-Fetch-Site: " + site + ")", "forbidden");
        return true;
    }
    if (request.method != "POST" || !is_action(request.path)) return false;
    // A form or script of another site: its Origin is not ours (browsers always send Origin on a
    // cross-origin POST), or Fetch Metadata says cross-site.
    const std::string host = request.get_header_value("Host");
    if (request.has_header("Origin")) {
        const std::string origin = request.get_header_value("Origin");
        if (origin != "http://" + host) {
            send_error(response, 403, "cross-site request refused (Origin " + origin.substr(0, 100) + " is not this dashboard)",
                       "forbidden");
            return true;
        }
    }
    if (options.read_only) {
        send_error(response, 403, "the dashboard is read-only (started with --read-only): replays and purges are refused",
                   "read-only");
        return true;
    }
    if (!request.has_header(kTokenHeader)) {
        send_error(response, 401, std::string("missing token: send it in the ") + kTokenHeader +
                                      " header (printed when the dashboard started)", "token");
        return true;
    }
    if (!same_token(request.get_header_value(kTokenHeader), options.token)) {
        send_error(response, 401, "wrong token", "token");
        return true;
    }
    const std::string type = request.get_header_value("Content-Type");
    if (!json_content_type(type)) {
        send_error(response, 415, "expected Content-Type: application/json (optionally with ; charset=utf-8), found \"" +
                                      type.substr(0, 100) + "\"", "request");
        return true;
    }
    return false;
}

void DashboardServer::Impl::install_routes() {
    Api& a = *api;
    auto get = [this](const char* path, std::function<ApiReply(const Params&)> handler) {
        server.Get(path, [handler = std::move(handler)](const httplib::Request& request, httplib::Response& response) {
            send(response, Api::guarded([&] { return handler(request.params); }));
        });
    };
    // A scan reads a whole channel (a slow grep can take minutes): a few at once, so that they
    // cannot take every serving thread and freeze the overview.
    auto scanning = [this](std::function<ApiReply()> work) {
        if (scans.fetch_add(1) >= options.max_scans) {
            scans.fetch_sub(1);
            return detail::error_reply(429, "too many scans running, try again");
        }
        struct Release {
            std::atomic<std::size_t>& n;
            ~Release() { n.fetch_sub(1); }
        } release{scans};
        return work();
    };
    auto get_scan = [this, scanning](const char* path, std::function<ApiReply(const Params&)> handler) {
        server.Get(path, [scanning, handler = std::move(handler)](const httplib::Request& request,
                                                                   httplib::Response& response) {
            send(response, Api::guarded([&] { return scanning([&] { return handler(request.params); }); }));
        });
    };
    get("/api/info", [&a](const Params&) { return a.info(); });
    get("/api/overview", [&a](const Params&) { return a.overview(); });
    get("/api/rates", [&a](const Params&) { return a.rates(); });
    get("/api/broker", [&a](const Params&) { return a.broker(); });
    get_scan("/api/dead", [&a](const Params& p) { return a.dead_letters(p); });
    get_scan("/api/count", [&a](const Params& p) { return a.count(p); });
    get_scan("/api/groups", [&a](const Params& p) { return a.groups(p); });
    get("/api/message", [&a](const Params& p) { return a.message(p); });
    get("/api/explain", [&a](const Params& p) { return a.explain(p); });
    get("/api/job", [&a](const Params& p) { return a.job(p); });
    server.Post("/api/replay", [&a, scanning](const httplib::Request& request, httplib::Response& response) {
        send(response, Api::guarded([&] { return scanning([&] { return a.replay(request.body); }); }));
    });
    server.Post("/api/purge", [&a, scanning](const httplib::Request& request, httplib::Response& response) {
        send(response, Api::guarded([&] { return scanning([&] { return a.purge(request.body); }); }));
    });
    server.Get(".*", [](const httplib::Request& request, httplib::Response& response) {
        const detail::Asset* asset = detail::find_asset(request.path);
        if (asset == nullptr) {
            send_error(response, 404, "not found: " + request.path.substr(0, 200), "not-found");
            return;
        }
        response.set_header("Cache-Control", "no-cache");
        response.set_content(std::string(asset->bytes), std::string(asset->content_type));
    });
}

DashboardServer::DashboardServer(std::shared_ptr<AdapterInterface> adapter, DashboardOptions options)
    : impl_(std::make_unique<Impl>()) {
    if (!adapter) throw InvalidArgumentError("dashboard: the adapter must not be null");
    Impl& impl = *impl_;
    impl.adapter = std::move(adapter);
    impl.options = std::move(options);
    DashboardOptions& o = impl.options;
    if (!o.listen.loopback() && !o.allow_non_loopback)
        throw InvalidArgumentError("dashboard: " + o.listen.to_string() +
                                   " is not a loopback address: other machines could reach it; allow it explicitly "
                                   "(--allow-non-loopback, config dashboard.allowNonLoopback)");
    if (o.token.empty()) o.token = random_token();
    if (!sane_token(o.token))
        throw InvalidArgumentError("dashboard: the token must be " + std::to_string(kMinTokenLength) + " to " +
                                   std::to_string(kMaxTokenLength) + " printable ASCII characters without spaces");
    detail::HostGuard::check(o.allowed_hosts);
    if (!(o.scan_timeout.count() > 0.0)) throw InvalidArgumentError("dashboard: scan_timeout must be above 0");
    if (!(o.sample_interval.count() > 0.0)) throw InvalidArgumentError("dashboard: sample_interval must be above 0");
    if (!(o.broker_timeout.count() > 0.0) || o.broker_timeout.count() > 1e9)
        throw InvalidArgumentError("dashboard: broker_timeout must be above 0 and at most 1e9 s");
    if (o.threads < 1) throw InvalidArgumentError("dashboard: threads must be at least 1");
    if (o.max_scans < 1) throw InvalidArgumentError("dashboard: max_scans must be at least 1");
    impl.api = std::make_unique<Api>(impl.adapter, impl.options);
}

DashboardServer::~DashboardServer() { stop(); }

std::uint16_t DashboardServer::start() {
    Impl& impl = *impl_;
    if (impl.started) return impl.port;
    if (impl.stopped) throw DashboardError("dashboard: a stopped server cannot start again; make a new one");
    failpipe::detail::BoundedServer& server = impl.server;
    // Idle keep-alive connections (a browser keeps several) give their thread up to a waiting
    // connection (see BoundedServer): they cannot hold up the page's requests.
    server.set_threads(impl.options.threads);
    // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a second dashboard (or
    // anything of the same user) binds the same port too and silently takes half the connections.
    server.set_socket_options([](socket_t sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    server.set_payload_max_length(impl.options.max_request_bytes);
    // A whole request, its body included (at most max_request_bytes), within 5 s of its first byte.
    server.set_read_timeout(std::chrono::seconds(5));
    server.set_write_timeout(std::chrono::seconds(10));
    server.set_default_headers({{"Content-Security-Policy", kContentSecurityPolicy},
                                {"X-Content-Type-Options", "nosniff"},
                                {"X-Frame-Options", "DENY"},
                                {"Referrer-Policy", "no-referrer"},
                                {"Cross-Origin-Resource-Policy", "same-origin"}});
    server.set_header_checks([&impl](const httplib::Request& request, httplib::Response& response) {
        if (!impl.refused(request, response)) return httplib::Server::HandlerResponse::Unhandled;
        // A body sent along is left unread: the connection cannot serve another request after it.
        if (request.has_header("Transfer-Encoding") || failpipe::detail::declared_length(request).bytes > 0)
            response.set_header("Connection", "close");
        return httplib::Server::HandlerResponse::Handled;
    });
    // Answers httplib makes itself in JSON too: a request it could not read (400, 414), a method it
    // does not know (501 here; httplib says 400), a body that did not arrive in time (400), an
    // expectation other than 100-continue (417, from BoundedServer). What is
    // left of the request is unread: the connection closes.
    server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& request, httplib::Response& response) {
        // An expectation other than 100-continue, refused by BoundedServer in plain text.
        if (response.status == 417) {
            send_error(response, 417, failpipe::detail::BoundedServer::kExpectationFailed);
            response.set_header("Connection", "close");
            return httplib::Server::HandlerResponse::Handled;
        }
        if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        if (const auto method = failpipe::detail::BoundedServer::unknown_method(request))
            send_error(response, 501, "unknown method " + *method + ": the dashboard answers GET and HEAD, and POST on its actions");
        else
            send_error(response, response.status, response.status == 413 ? "request body too large" : "request refused");
        response.set_header("Connection", "close");
        return httplib::Server::HandlerResponse::Handled;
    }));
    impl.install_routes();

    const ListenAddress& listen = impl.options.listen;
    errno = 0;
    if (listen.port == 0) {
        const int bound = server.bind_to_any_port(listen.host);
        if (bound > 0) impl.port = static_cast<std::uint16_t>(bound);
    } else if (server.bind_to_port(listen.host, listen.port)) {
        impl.port = listen.port;
    }
    if (impl.port == 0) {
        const int error = errno;
        throw DashboardError("dashboard: cannot listen on " + listen.to_string() + ": " +
                             (error == EADDRINUSE ? std::string("the port is in use by another process")
                              : error != 0       ? std::string(std::strerror(error))
                                                 : std::string("bind failed")));
    }
    impl.hosts = detail::HostGuard(listen, impl.port, impl.options.allowed_hosts);
    if (!listen.loopback())
        failpipe::detail::logger().warn("dashboard: serving on {}, reachable from other machines", address().to_string());
    impl.api->start();
    impl.listener = std::thread([&server] { server.listen_after_bind(); });
    for (int i = 0; i < 5000 && !server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    impl.started = true;
    return impl.port;
}

void DashboardServer::stop() {
    Impl& impl = *impl_;
    // First: scans and jobs stop at their next message, so the joins below do not wait for them.
    impl.api->cancel();
    if (impl.started) {
        impl.server.stop();
        if (impl.listener.joinable()) impl.listener.join();
        impl.started = false;
    }
    impl.stopped = true;
    impl.api->stop();
}

ListenAddress DashboardServer::address() const {
    ListenAddress address = impl_->options.listen;
    address.port = impl_->port;
    return address;
}

std::string DashboardServer::url() const { return "http://" + address().to_string() + "/"; }

const std::string& DashboardServer::token() const noexcept { return impl_->options.token; }

std::string random_token() {
    std::ifstream in("/dev/urandom", std::ios::binary);
    std::array<unsigned char, 32> bytes{};
    if (!in.read(reinterpret_cast<char*>(bytes.data()), bytes.size()))
        throw DashboardError("dashboard: cannot read random bytes from /dev/urandom for a token");
    static const char* digits = "0123456789abcdef";
    std::string token;
    for (const unsigned char b : bytes) {
        token += digits[b >> 4];
        token += digits[b & 15];
    }
    return token;
}

void check_allowed_hosts(const std::vector<std::string>& hosts) { detail::HostGuard::check(hosts); }

std::string read_token_file(const std::string& path) {
    auto fail = [&](const std::string& why) { return DashboardError("dashboard: the token file " + path + " " + why); };
    // Non-blocking, so a FIFO named by mistake is refused below instead of waiting for a writer.
    const int fd = ::open(path.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) throw DashboardError("dashboard: cannot read the token file " + path + ": " + std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat info {};
    if (::fstat(fd, &info) != 0) throw fail(std::string("cannot be read: ") + std::strerror(errno));
    if (!S_ISREG(info.st_mode)) throw fail("is not a regular file");
    if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
        throw fail(std::string("is open to other users (mode ") + mode +
                   "): make it readable by its owner only, with chmod 600 " + path);
    }
    if (static_cast<std::uintmax_t>(info.st_size) > kMaxTokenFileBytes)
        throw fail("is larger than " + std::to_string(kMaxTokenFileBytes) + " bytes: it should hold one token");
    std::string content(kMaxTokenFileBytes, '\0');
    std::size_t got = 0;
    while (got < content.size()) {
        const ssize_t n = ::read(fd, content.data() + got, content.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw fail(std::string("cannot be read: ") + std::strerror(errno));
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    content.resize(got);
    const std::string token = trimmed(content.substr(0, content.find('\n')));
    if (!sane_token(token))
        throw fail("must hold one token of " + std::to_string(kMinTokenLength) + " to " + std::to_string(kMaxTokenLength) +
                   " printable ASCII characters (no spaces) on its first line");
    return token;
}

}  // namespace failpipe::dashboard
