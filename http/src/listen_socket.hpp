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

/// True when `request` is chunked (httplib 0.11 would read a chunked body whole, whatever its
/// size), or declares a Content-Length above `max_bytes`, on any method. Call it from a pre-routing
/// handler (refuse_body_too_large then answers): httplib's own limit (set_payload_max_length) reads
/// and discards the declared length before its 413, so a client declaring 99999999999 bytes and
/// sending none held a serving thread until the read timeout.
bool body_too_large(const httplib::Request& request, std::size_t max_bytes);

/// Answers 413 and closes the connection (the unread body must not be parsed as a next request;
/// with BoundedServer the connection ends once the answer is written).
void refuse_body_too_large(httplib::Response& response);

}  // namespace failpipe::detail
