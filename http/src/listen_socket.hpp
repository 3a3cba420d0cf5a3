// Binding an httplib server and bounding request bodies, shared by the HTTP servers of failpipe
// (EndpointServer; the dashboard can use the same two functions).
#pragma once

#include <httplib.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "failpipe/listen_address.hpp"

namespace failpipe::detail {

/// The port bound, or 0 and why not ("the port is in use by another process", strerror, ...).
struct BoundPort {
    std::uint16_t port = 0;
    std::string error;
};

/// Binds `server` to `listen` (port 0: any free port) with SO_REUSEADDR only. httplib 0.11's
/// default options add SO_REUSEPORT, with which a second server of the same user binds the same
/// port too and silently takes part of the connections; without it the second bind fails.
BoundPort bind_exclusive(httplib::Server& server, const ListenAddress& listen);

/// True for the methods whose body httplib 0.11 reads itself (POST, PUT, PATCH, DELETE), after the
/// pre-routing handler, bounded by set_payload_max_length when it has a Content-Length.
bool body_read_by_httplib(const std::string& method);

/// True when `request` is chunked (any method: httplib 0.11 would read a chunked body whole), or a
/// GET, HEAD, OPTIONS, ... announcing a body above `max_bytes`: httplib 0.11 applies
/// set_payload_max_length only to the methods whose body it reads (false for those with a
/// Content-Length), and leaves a GET's body unread on the connection. Call it from a pre-routing
/// handler; refuse_body_too_large then answers.
bool body_too_large(const httplib::Request& request, std::size_t max_bytes);

/// Answers 413 and closes the connection (the unread body must not be parsed as a next request).
void refuse_body_too_large(httplib::Response& response);

}  // namespace failpipe::detail
