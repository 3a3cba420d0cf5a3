/// @file endpoint_server.hpp
/// @brief EndpointServer: the runtime's small HTTP server for `GET /metrics` and `GET /health`.
///
/// Target failpipe::http (folder http/), separate from the core library so that the core depends on
/// nlohmann_json and spdlog only; it uses Debian's libcpp-httplib-dev. The bodies come from the
/// caller's callbacks (e.g. Metrics::to_prometheus and the health report): this server only serves.
///
/// @code
///   failpipe::http::EndpointServerOptions options;
///   options.listen = *config.http_listen;                    // 127.0.0.1:9464 by default
///   options.metrics = [&] { return failpipe::http::Reply{200, metrics.to_prometheus()}; };
///   options.health = [&] { auto h = health(); return failpipe::http::Reply{h.unhealthy() ? 503 : 200, h.json()}; };
///   failpipe::http::EndpointServer server(std::move(options)); // serves until destroyed
/// @endcode
///
/// Thread safety: the callbacks are called from the server's threads, possibly at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "failpipe/error.hpp"
#include "failpipe/listen_address.hpp"

namespace failpipe::http {

/// @brief A response body and its HTTP status.
struct Reply {
    int status = 200;
    std::string body;
};

/// @brief Produces one endpoint's reply. May throw: the client then gets 500 and the error is logged.
using Endpoint = std::function<Reply()>;

/// @brief Settings of an EndpointServer (JSON config: `http`).
struct EndpointServerOptions {
    ListenAddress listen{};           ///< 127.0.0.1:9464 by default; port 0 = any free port.
    bool allow_non_loopback = false;  ///< Required for an address other machines can reach (logged as a warning).
    Endpoint metrics;                 ///< `GET /metrics`, served as `text/plain; version=0.0.4` (null: 404).
    Endpoint health;                  ///< `GET /health`, served as `application/json`: 200 healthy/warning, 503 unhealthy (null: 404).
    /// No endpoint reads a body: one declared larger than this (or chunked) is refused with 413 from
    /// the headers, at once; a smaller one is left unread. Either way the connection closes after
    /// the answer.
    std::size_t max_request_bytes = 8192;
    std::size_t threads = 4;               ///< Threads serving requests (>= 1): a few idle or slow clients do not hold up a probe.
};

/// @brief The server could not start (the port is in use, the address is not this machine's, ...).
class EndpointServerError : public Error {
public:
    using Error::Error;
};

/// @brief Serves `/metrics` and `/health` from construction to destruction.
///
/// Other paths answer 404; other methods on these paths 405 (with `Allow: GET, HEAD`); a method the
/// server does not know at all (`BREW`) 501. Every request is answered from its line and headers,
/// which must arrive within 2 s of its first byte: a body is never read nor waited for.
class EndpointServer {
public:
    /// @brief Binds and starts serving. Throws EndpointServerError when it cannot bind (the message
    /// names the address and the cause), and InvalidArgumentError for a non-loopback address
    /// without allow_non_loopback.
    explicit EndpointServer(EndpointServerOptions options);
    /// @brief Stops serving and joins the server's threads.
    ~EndpointServer();
    EndpointServer(const EndpointServer&) = delete;
    EndpointServer& operator=(const EndpointServer&) = delete;

    /// @brief The address served, with the port actually bound (useful with port 0).
    ListenAddress address() const;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace failpipe::http
