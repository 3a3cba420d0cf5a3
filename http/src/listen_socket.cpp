#include "listen_socket.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "bounded_server.hpp"

namespace failpipe::detail {

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
    if (request.has_header("Transfer-Encoding")) return true;
    const DeclaredLength length = declared_length(request);
    return length.valid && length.bytes > max_bytes;
}

void refuse_body_too_large(httplib::Response& response) {
    response.status = 413;
    response.set_header("Connection", "close");
    response.set_content("request body too large\n", "text/plain");
}

}  // namespace failpipe::detail
