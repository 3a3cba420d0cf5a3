#include "failpipe/http/endpoint_server.hpp"

#include <httplib.h>

#include <chrono>
#include <thread>

#include "bounded_server.hpp"
#include "listen_socket.hpp"
#include "logging.hpp"

namespace failpipe::http {
namespace {

constexpr const char* kMetricsType = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char* kHealthType = "application/json";

bool known_path(const std::string& path) { return path == "/metrics" || path == "/health"; }

// One endpoint: the callback's reply, or 404 without a callback, or 500 when it throws.
void serve(const Endpoint& endpoint, const char* content_type, httplib::Response& response) {
    if (!endpoint) {
        response.status = 404;
        response.set_content("not found\n", "text/plain");
        return;
    }
    try {
        Reply reply = endpoint();
        response.status = reply.status;
        response.set_content(std::move(reply.body), content_type);
    } catch (const std::exception& e) {
        detail::logger().error("http: an endpoint failed: {}", e.what());
        response.status = 500;
        response.set_content("internal error\n", "text/plain");
    } catch (...) {
        detail::logger().error("http: an endpoint threw something that is not a std::exception");
        response.status = 500;
        response.set_content("internal error\n", "text/plain");
    }
}

bool announces_body(const httplib::Request& request) {
    return request.has_header("Transfer-Encoding") || detail::declared_length(request).bytes > 0;
}

// Answers, from the headers alone, what no endpoint serves: an unknown path (404) or a method other
// than GET and HEAD (405 with Allow). True when answered. httplib would otherwise first read a
// POST's body, and wait for one that never comes.
bool wrong_route(const httplib::Request& request, httplib::Response& response) {
    if (!known_path(request.path)) {
        response.status = 404;
        response.set_content("not found\n", "text/plain");
    } else if (request.method != "GET" && request.method != "HEAD") {
        response.status = 405;
        response.set_header("Allow", "GET, HEAD");
        response.set_content("method not allowed\n", "text/plain");
    } else {
        return false;
    }
    return true;
}

// What httplib answers itself, before any handler: a request it could not read (400, 414) or a
// method it does not know (501 here; httplib says 400). Plain text, as the endpoints' own refusals.
httplib::Server::HandlerResponse refused_by_httplib(const httplib::Request& request, httplib::Response& response) {
    if (!detail::BoundedServer::unread(request)) return httplib::Server::HandlerResponse::Unhandled;
    if (detail::BoundedServer::unknown_method(request)) {
        response.status = 501;
        response.set_content("method not implemented\n", "text/plain");
    } else {
        response.set_content(response.status == 414   ? "request target too long\n"
                             : response.status == 400 ? "bad request\n"
                                                      : "request refused\n",
                             "text/plain");
    }
    response.set_header("Connection", "close");
    return httplib::Server::HandlerResponse::Handled;
}

}  // namespace

struct EndpointServer::Impl {
    EndpointServerOptions options;
    detail::BoundedServer server;
    std::thread listener;
    std::uint16_t port = 0;
};

EndpointServer::EndpointServer(EndpointServerOptions options) : impl_(std::make_unique<Impl>()) {
    Impl& impl = *impl_;
    impl.options = std::move(options);
    const ListenAddress& listen = impl.options.listen;
    if (!listen.loopback()) {
        if (!impl.options.allow_non_loopback)
            throw InvalidArgumentError("http: " + listen.to_string() +
                                       " is not a loopback address; allow it explicitly (config http.allowNonLoopback)");
        detail::logger().warn("http: /metrics and /health are served on {}, reachable from other machines",
                              listen.to_string());
    }
    if (impl.options.threads < 1) throw InvalidArgumentError("http: threads must be at least 1");

    detail::BoundedServer& server = impl.server;
    // Idle keep-alive connections give their thread up to a waiting connection (see BoundedServer):
    // a scraper or a browser tab keeping connections open does not hold up /health.
    server.set_threads(impl.options.threads);
    server.set_payload_max_length(impl.options.max_request_bytes);
    // The whole request (line and headers: no body is read) within 2 s of its first byte.
    server.set_read_timeout(std::chrono::seconds(2));
    server.set_write_timeout(std::chrono::seconds(5));
    server.set_keep_alive_max_count(100);
    // Every request is answered from its headers: no endpoint reads a body. httplib reads the body
    // of a POST, PUT, PATCH or DELETE before its handler (whatever its path), and discards a
    // declared length above its limit before answering 413: a client declaring 99999999999 bytes
    // and sending none held a thread until the read timeout. A body left unread closes the
    // connection after the answer (it must not be parsed as a next request). A request with
    // `Expect: 100-continue` gets these answers instead of a 100 (see set_header_checks); one with
    // any other expectation a 417 before them (see BoundedServer).
    const std::size_t max_bytes = impl.options.max_request_bytes;
    server.set_header_checks([max_bytes](const httplib::Request& request, httplib::Response& response) {
        if (!detail::declared_length(request).valid) {
            response.status = 400;
            response.set_header("Connection", "close");
            response.set_content("bad Content-Length: expected a number of bytes\n", "text/plain");
            return httplib::Server::HandlerResponse::Handled;
        }
        if (detail::body_too_large(request, max_bytes)) {
            detail::refuse_body_too_large(response);
            return httplib::Server::HandlerResponse::Handled;
        }
        if (announces_body(request)) response.set_header("Connection", "close");
        return wrong_route(request, response) ? httplib::Server::HandlerResponse::Handled
                                               : httplib::Server::HandlerResponse::Unhandled;
    });
    server.set_error_handler(httplib::Server::HandlerWithResponse(refused_by_httplib));
    server.Get("/metrics", [&impl](const httplib::Request&, httplib::Response& response) {
        serve(impl.options.metrics, kMetricsType, response);
    });
    server.Get("/health", [&impl](const httplib::Request&, httplib::Response& response) {
        serve(impl.options.health, kHealthType, response);
    });

    const detail::BoundPort bound = detail::bind_exclusive(server, listen);
    if (bound.port == 0) throw EndpointServerError("http: cannot listen on " + listen.to_string() + ": " + bound.error);
    impl.port = bound.port;
    impl.listener = std::thread([&server] { server.listen_after_bind(); });
    // stop() only ends a server that is running: wait for it to run (bounded), so the destructor never hangs.
    for (int i = 0; i < 5000 && !server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    detail::logger().info("http: serving /metrics and /health on {}", address().to_string());
}

EndpointServer::~EndpointServer() {
    impl_->server.stop();
    if (impl_->listener.joinable()) impl_->listener.join();
}

ListenAddress EndpointServer::address() const {
    ListenAddress address = impl_->options.listen;
    address.port = impl_->port;
    return address;
}

}  // namespace failpipe::http
