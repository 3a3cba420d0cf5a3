#include "failpipe/http/endpoint_server.hpp"

#include <httplib.h>

#include <chrono>
#include <thread>

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

// Content-Length as RFC 9110 has it: digits only. httplib 0.11 reads "abc" as 0 and "-1" as the
// largest length, then waits for a body that never comes.
bool bad_content_length(const httplib::Request& request) {
    if (!request.has_header("Content-Length")) return false;
    const std::string value = request.get_header_value("Content-Length");
    return value.empty() || value.size() > 18 || value.find_first_not_of("0123456789") != std::string::npos;
}

bool announces_body(const httplib::Request& request) {
    return request.has_header("Transfer-Encoding") ||
           (request.has_header("Content-Length") && request.get_header_value("Content-Length") != "0");
}

// Answers, from the headers alone, what no endpoint serves: an unknown path (404) or a method other
// than GET and HEAD (405 with Allow). True when answered. httplib would otherwise first read a
// POST's body, and wait out the read timeout for one that never comes (then answer 400).
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

void not_allowed(const httplib::Request& request, httplib::Response& response) { wrong_route(request, response); }

}  // namespace

struct EndpointServer::Impl {
    EndpointServerOptions options;
    httplib::Server server;
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

    httplib::Server& server = impl.server;
    const std::size_t threads = impl.options.threads;
    server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server.set_payload_max_length(impl.options.max_request_bytes);
    server.set_read_timeout(std::chrono::seconds(2));
    server.set_write_timeout(std::chrono::seconds(5));
    server.set_keep_alive_max_count(100);
    // httplib bounds only the Content-Length bodies it reads (POST, PUT, ...): a GET's body and a
    // chunked one are bounded here. No endpoint reads a body: a GET's, left unread, closes the
    // connection after the answer (it must not be parsed as a next request). What no endpoint
    // serves is answered here from the headers, so a POST without a body is not left waiting.
    const std::size_t max_bytes = impl.options.max_request_bytes;
    server.set_pre_routing_handler([max_bytes](const httplib::Request& request, httplib::Response& response) {
        if (bad_content_length(request)) {
            response.status = 400;
            response.set_header("Connection", "close");
            response.set_content("bad Content-Length: expected a number of bytes\n", "text/plain");
            return httplib::Server::HandlerResponse::Handled;
        }
        if (detail::body_too_large(request, max_bytes)) {
            detail::refuse_body_too_large(response);
            return httplib::Server::HandlerResponse::Handled;
        }
        if (announces_body(request)) {
            // Read by httplib (bounded), then answered by the routes below: a client still sending
            // it would otherwise see the connection reset instead of the answer.
            if (detail::body_read_by_httplib(request.method)) return httplib::Server::HandlerResponse::Unhandled;
            response.set_header("Connection", "close");
        }
        return wrong_route(request, response) ? httplib::Server::HandlerResponse::Handled
                                               : httplib::Server::HandlerResponse::Unhandled;
    });
    // httplib's own 413 (a POST's body) gets the same text.
    server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& response) {
        if (response.status != 413 || !response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        detail::refuse_body_too_large(response);
        return httplib::Server::HandlerResponse::Handled;
    }));
    server.Get("/metrics", [&impl](const httplib::Request&, httplib::Response& response) {
        serve(impl.options.metrics, kMetricsType, response);
    });
    server.Get("/health", [&impl](const httplib::Request&, httplib::Response& response) {
        serve(impl.options.health, kHealthType, response);
    });
    server.Post(".*", not_allowed);
    server.Put(".*", not_allowed);
    server.Patch(".*", not_allowed);
    server.Delete(".*", not_allowed);

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
