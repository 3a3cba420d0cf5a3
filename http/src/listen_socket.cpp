#include "listen_socket.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace failpipe::detail {
bool body_read_by_httplib(const std::string& method) {
    return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE" || method == "PRI";
}

BoundPort bind_exclusive(httplib::Server& server, const ListenAddress& listen) {
    server.set_socket_options([](socket_t sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    BoundPort bound;
    errno = 0;
    if (listen.port == 0) {
        const int port = server.bind_to_any_port(listen.host);
        if (port > 0) bound.port = static_cast<std::uint16_t>(port);
    } else if (server.bind_to_port(listen.host, listen.port)) {
        bound.port = listen.port;
    }
    if (bound.port == 0) {
        const int error = errno;
        bound.error = error == EADDRINUSE ? std::string("the port is in use by another process")
                      : error != 0        ? std::string(std::strerror(error))
                                          : std::string("bind failed");
    }
    return bound;
}

bool body_too_large(const httplib::Request& request, std::size_t max_bytes) {
    // A chunked body httplib would read whole, whatever its size, for any method.
    if (request.has_header("Transfer-Encoding")) return true;
    // httplib bounds a Content-Length body itself, and reads (drains) a refused one so that the
    // client gets its 413.
    if (body_read_by_httplib(request.method)) return false;
    if (!request.has_header("Content-Length")) return false;
    std::size_t length = 0;
    for (const char c : request.get_header_value("Content-Length")) {
        if (c < '0' || c > '9' || length > max_bytes) return true;  // not a length, or already above
        length = length * 10 + static_cast<std::size_t>(c - '0');
    }
    return length > max_bytes;
}

void refuse_body_too_large(httplib::Response& response) {
    response.status = 413;
    response.set_header("Connection", "close");
    response.set_content("request body too large\n", "text/plain");
}

}  // namespace failpipe::detail
