// Requests sent as raw bytes (no client smooths them: a missing Content-Length, a chunked GET, a
// bad header) and the replies read back, for the HTTP servers' tests.
#pragma once

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
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

// One connection of a test, held open as long as the test keeps it: a client that declares a body
// and never sends it, or that never closes.
class RawConnection {
public:
    explicit RawConnection(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        REQUIRE(fd_ >= 0);
        receive_timeout(5.0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(port);
        REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    }
    ~RawConnection() { ::close(fd_); }
    RawConnection(const RawConnection&) = delete;
    RawConnection& operator=(const RawConnection&) = delete;

    void send(const std::string& bytes) { CHECK(try_send(bytes)); }
    // False when the server has ended the connection.
    bool try_send(const std::string& bytes) {
        sent_at_ = std::chrono::steady_clock::now();
        return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
    }

    // Reads one reply: until its Content-Length is complete, the server closes, or 5 s pass. A reply
    // to HEAD (@p head) announces the length of a body it does not send.
    RawReply read_reply(bool head = false) {
        receive_timeout(5.0);
        for (int i = 0; i < 100 && !complete(head); ++i)
            if (!receive()) break;
        RawReply reply;
        reply.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - sent_at_).count();
        const auto end = bytes_.find("\r\n\r\n");
        reply.head = bytes_.substr(0, end == std::string::npos ? bytes_.size() : end + 2);
        if (end != std::string::npos) reply.body = bytes_.substr(end + 4, body_length(head, end));
        bytes_.erase(0, end == std::string::npos ? bytes_.size() : end + 4 + reply.body.size());
        return reply;
    }

    // True when the server ends the connection within @p seconds (an end of stream or a reset)
    // without sending anything more: no second reply, nothing left of the first.
    bool closed_by_server(double seconds) {
        if (!bytes_.empty()) return false;
        receive_timeout(seconds);
        char byte = 0;
        const ssize_t n = ::recv(fd_, &byte, 1, 0);
        return n == 0 || (n < 0 && errno == ECONNRESET);
    }

private:
    void receive_timeout(double seconds) {
        timeval timeout{static_cast<time_t>(seconds), static_cast<suseconds_t>((seconds - static_cast<double>(static_cast<time_t>(seconds))) * 1e6)};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    }
    bool receive() {
        char buffer[4096];
        const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
        if (n <= 0) return false;
        bytes_.append(buffer, static_cast<std::size_t>(n));
        return true;
    }
    std::size_t body_length(bool head, std::size_t end) const {
        const auto length_at = bytes_.find("Content-Length: ");
        return length_at < end && !head ? std::stoul(bytes_.substr(length_at + 16)) : 0;
    }
    bool complete(bool head) const {
        const auto end = bytes_.find("\r\n\r\n");
        return end != std::string::npos && bytes_.size() >= end + 4 + body_length(head, end);
    }

    int fd_;
    std::string bytes_;  // received, not yet returned
    std::chrono::steady_clock::time_point sent_at_ = std::chrono::steady_clock::now();
};

// Sends @p request as given (no client smooths it) on a new connection and reads one reply: until
// its Content-Length is complete, the server closes, or 5 s pass.
inline RawReply send_raw(std::uint16_t port, const std::string& request) {
    RawConnection connection(port);
    connection.send(request);
    return connection.read_reply(request.rfind("HEAD ", 0) == 0);
}

inline std::string request_line(const std::string& method, const std::string& path, const std::string& headers = "",
                                const std::string& host = "127.0.0.1") {
    return method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\n" + headers + "\r\n";
}

}  // namespace failpipe::test
