// Requests sent as raw bytes (no client smooths them: a missing Content-Length, a chunked GET, a
// bad header) and the one reply read back, for the HTTP servers' tests.
#pragma once

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace failpipe::test {

// The status line, headers and body of one reply, read from raw bytes.
struct RawReply {
    std::string head;  // status line and headers
    std::string body;
    double seconds = 0;  // from sending the request to the complete reply
    int status() const { return head.size() > 12 ? std::stoi(head.substr(9, 3)) : 0; }
    bool has(const std::string& header_line) const { return head.find("\r\n" + header_line + "\r\n") != std::string::npos; }
};

// Sends @p request as given (no client smooths it) on a new connection and reads one reply: until
// its Content-Length is complete, the server closes, or 5 s pass.
inline RawReply send_raw(std::uint16_t port, const std::string& request) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    timeval timeout{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    const auto start = std::chrono::steady_clock::now();
    CHECK(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
    std::string bytes;
    RawReply reply;
    char buffer[4096];
    for (int i = 0; i < 100; ++i) {
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        bytes.append(buffer, static_cast<std::size_t>(n));
        const auto end = bytes.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        // A reply to HEAD announces the length of a body it does not send.
        const auto length_at = bytes.find("Content-Length: ");
        const std::size_t length =
            length_at < end && request.rfind("HEAD ", 0) != 0 ? std::stoul(bytes.substr(length_at + 16)) : 0;
        if (bytes.size() >= end + 4 + length) break;
    }
    reply.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ::close(fd);
    const auto end = bytes.find("\r\n\r\n");
    reply.head = bytes.substr(0, end == std::string::npos ? bytes.size() : end + 2);
    if (end != std::string::npos) reply.body = bytes.substr(end + 4);
    return reply;
}

inline std::string request_line(const std::string& method, const std::string& path, const std::string& headers = "",
                                const std::string& host = "127.0.0.1") {
    return method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + headers + "\r\n";
}

}  // namespace failpipe::test
