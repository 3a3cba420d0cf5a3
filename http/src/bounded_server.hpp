// An httplib::Server (cpp-httplib 0.11) whose connections are served by a loop of its own, for the
// HTTP servers of failpipe (EndpointServer, the dashboard). Header-only: each library compiles its
// own copy, and neither links the other.
//
// httplib 0.11's own loop lets a hostile client hold a serving thread: a reply saying
// `Connection: close` is only a header (the thread then waits for a next request until the
// keep-alive timeout, and reads a body it refused as one), and its read timeout restarts with every
// byte, so a request trickled in never ends.
#pragma once

#include <httplib.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

namespace failpipe::detail {

/// What a request's Content-Length says: nothing (absent), a number of bytes, or not a number of
/// bytes (`abc`, `-1`, 23 digits, `5, 5`), which httplib 0.11 reads as 0 or as the largest length.
struct DeclaredLength {
    bool present = false;
    bool valid = true;
    std::uint64_t bytes = 0;
};

inline DeclaredLength declared_length(const httplib::Request& request) {
    DeclaredLength length;
    if (!request.has_header("Content-Length")) return length;
    length.present = true;
    const std::string value = request.get_header_value("Content-Length");
    // Digits only, as RFC 9110 has it; 18 of them cannot overflow.
    length.valid = !value.empty() && value.size() <= 18 && value.find_first_not_of("0123456789") == std::string::npos;
    if (length.valid) length.bytes = std::stoull(value);
    return length;
}

/// See the file's comment. In short, with this server:
/// - a reply carrying `Connection: close` (set by a handler, a pre-routing or an error handler)
///   ends its connection once written (see linger()): nothing the client sent after the request
///   is read as a next one, and the thread does not wait for one;
/// - set_read_timeout bounds the reading of one whole request (line, headers and body, from its
///   first byte), not each read; and a request reads at most kMaxHeadBytes beside its body
///   (set_payload_max_length): httplib 0.11 bounds neither the number of headers nor the length of
///   a request line while it reads them;
/// - a request httplib could not read (see unread()) ends its connection too, its headers unread.
/// It installs its own post-routing handler: do not replace it.
class BoundedServer : public httplib::Server {
public:
    static constexpr std::size_t kMaxHeadBytes = 64 * 1024;

    BoundedServer() {
        set_post_routing_handler([](const httplib::Request& request, httplib::Response& response) {
            if (response.get_header_value("Connection") != "close" && !unread(request)) return;
            // One header, without httplib's Keep-Alive beside it.
            response.headers.erase("Connection");
            response.headers.erase("Keep-Alive");
            response.set_header("Connection", "close");
            closing() = true;
        });
    }

    /// True when httplib answered a request it could not read whole (its request line or headers:
    /// a method it does not know, a malformed line, a target over 8 KiB): what follows on the
    /// connection is unread. Such a request has no REMOTE_ADDR, which httplib sets once it has
    /// read the headers.
    static bool unread(const httplib::Request& request) { return !request.has_header("REMOTE_ADDR"); }

    /// The method of an unread request when it is a method httplib 0.11 does not know (`BREW`,
    /// `get`): a well-formed token that is not GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS,
    /// TRACE, PATCH or PRI. Answer it 501.
    static std::optional<std::string> unknown_method(const httplib::Request& request) {
        static const std::array<const char*, 10> known{"GET",     "HEAD",    "POST",  "PUT",   "DELETE",
                                                       "CONNECT", "OPTIONS", "TRACE", "PATCH", "PRI"};
        const std::string& method = request.method;
        if (!unread(request) || method.empty() || method.size() > 32 || request.version.empty()) return std::nullopt;
        if (method.find_first_not_of("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") !=
            std::string::npos)
            return std::nullopt;
        if (std::find(known.begin(), known.end(), method) != known.end()) return std::nullopt;
        return method;
    }

private:
    using Clock = std::chrono::steady_clock;

    // True when this thread's reply in progress closes its connection (set while it is written).
    static bool& closing() {
        static thread_local bool flag = false;
        return flag;
    }

    static std::chrono::milliseconds duration_of(time_t seconds, time_t microseconds) {
        return std::chrono::milliseconds(seconds * 1000 + microseconds / 1000);
    }

    // Waits for @p events on @p fd up to @p timeout. True when they came.
    static bool wait_for(int fd, short events, std::chrono::milliseconds timeout) {
        pollfd entry{fd, events, 0};
        const auto deadline = Clock::now() + timeout;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            const int n = ::poll(&entry, 1, static_cast<int>(std::max<std::int64_t>(0, left.count())));
            if (n >= 0 || errno != EINTR) return n > 0;
        }
    }

    // One connection's bytes, buffered (httplib reads a request line byte by byte); a request's
    // reads end at its deadline and its byte limit.
    class Connection final : public httplib::Stream {
    public:
        Connection(int fd, std::chrono::milliseconds write_timeout) : fd_(fd), write_timeout_(write_timeout) {}

        void begin_request(std::chrono::milliseconds read_limit, std::uint64_t byte_limit) {
            deadline_ = Clock::now() + read_limit;
            bytes_left_ = byte_limit;
        }
        bool buffered() const { return begin_ < end_; }

        bool is_readable() const override {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
            return buffered() || (left.count() > 0 && wait_for(fd_, POLLIN, left));
        }
        bool is_writable() const override { return wait_for(fd_, POLLOUT, write_timeout_); }

        ssize_t read(char* out, size_t size) override {
            if (bytes_left_ == 0) return -1;
            if (!buffered()) {
                if (!is_readable()) return -1;
                ssize_t n = 0;
                do n = ::recv(fd_, buffer_.data(), buffer_.size(), 0);
                while (n < 0 && errno == EINTR);
                if (n <= 0) return n;
                begin_ = 0;
                end_ = static_cast<std::size_t>(n);
            }
            const auto n = static_cast<std::size_t>(std::min<std::uint64_t>({size, end_ - begin_, bytes_left_}));
            std::memcpy(out, buffer_.data() + begin_, n);
            begin_ += n;
            bytes_left_ -= n;
            return static_cast<ssize_t>(n);
        }

        ssize_t write(const char* data, size_t size) override {
            if (!is_writable()) return -1;
            ssize_t n = 0;
            do n = ::send(fd_, data, size, MSG_NOSIGNAL);
            while (n < 0 && errno == EINTR);
            return n;
        }

        void get_remote_ip_and_port(std::string& ip, int& port) const override { address_of(true, ip, port); }
        void get_local_ip_and_port(std::string& ip, int& port) const override { address_of(false, ip, port); }
        socket_t socket() const override { return fd_; }

    private:
        void address_of(bool peer, std::string& ip, int& port) const {
            sockaddr_storage address{};
            socklen_t length = sizeof address;
            auto* any = reinterpret_cast<sockaddr*>(&address);
            if ((peer ? ::getpeername(fd_, any, &length) : ::getsockname(fd_, any, &length)) != 0) return;
            std::array<char, NI_MAXHOST> host{};
            std::array<char, NI_MAXSERV> service{};
            if (::getnameinfo(any, length, host.data(), host.size(), service.data(), service.size(),
                              NI_NUMERICHOST | NI_NUMERICSERV) != 0)
                return;
            ip = host.data();
            port = std::atoi(service.data());
        }

        int fd_;
        std::chrono::milliseconds write_timeout_;
        Clock::time_point deadline_{};
        std::uint64_t bytes_left_ = 0;
        std::array<char, 4096> buffer_{};
        std::size_t begin_ = 0;
        std::size_t end_ = 0;
    };

    bool serving() const { return svr_sock_ != INVALID_SOCKET; }

    // Waits for a next request up to the keep-alive timeout, looking every 50 ms whether the server
    // is stopping (httplib's own wait runs its full timeout, and stop() joins it).
    bool next_request(const Connection& connection) const {
        if (connection.buffered()) return true;
        const auto deadline = Clock::now() + std::chrono::seconds(keep_alive_timeout_sec_);
        while (serving() && Clock::now() < deadline)
            if (wait_for(connection.socket(), POLLIN, std::chrono::milliseconds(50))) return true;
        return false;
    }

    bool process_and_close_socket(socket_t sock) override {
        Connection connection(sock, duration_of(write_timeout_sec_, write_timeout_usec_));
        const auto read_limit = duration_of(read_timeout_sec_, read_timeout_usec_);
        const std::uint64_t byte_limit = kMaxHeadBytes + std::min<std::uint64_t>(payload_max_length_, UINT64_MAX / 2);
        bool ok = false;
        closing() = false;
        for (std::size_t left = keep_alive_max_count_; left > 0 && serving() && next_request(connection); --left) {
            bool client_closes = false;
            connection.begin_request(read_limit, byte_limit);
            ok = process_request(connection, left == 1, client_closes, nullptr);
            if (!ok || client_closes || closing()) break;
        }
        if (closing()) linger(connection);
        ::shutdown(sock, SHUT_RDWR);
        ::close(sock);
        return ok;
    }

    // After a reply that closes the connection, the client may still be writing a body refused
    // from its headers: closed at once, the socket would answer its bytes with a reset, and a
    // client that reads the reply only once its body is written would see the reset instead. So
    // the reply ends with a FIN, and what still arrives is read and dropped while it keeps coming
    // (each pause under 100 ms, at most 2 s in all): a client that sends nothing more costs its
    // thread 100 ms, not a timeout.
    void linger(const Connection& connection) const {
        const int fd = connection.socket();
        ::shutdown(fd, SHUT_WR);
        const auto end = Clock::now() + std::chrono::seconds(2);
        std::array<char, 16384> sink{};
        while (serving() && Clock::now() < end && wait_for(fd, POLLIN, std::chrono::milliseconds(100)))
            if (::recv(fd, sink.data(), sink.size(), 0) <= 0) return;
    }
};

}  // namespace failpipe::detail
