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
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

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
/// - a request httplib could not read (see unread()) ends its connection too, its headers unread;
/// - the checks of set_header_checks() answer a request with `Expect: 100-continue` before any
///   `100 Continue`: a refused body is never invited;
/// - an Expect field is read as RFC 9110 §10.1.1 has it: `100-continue` in any letter case gets
///   the 100 (httplib 0.11 matches the exact lower-case bytes only, and otherwise sent none, so a
///   client waited for it), and one in an HTTP/1.0 request is ignored; any other expectation is
///   answered `417 Expectation Failed` with `Connection: close` before the checks and any handler
///   run, its body unread;
/// - with set_threads(), a connection idle between two requests (or before its first) gives its
///   thread up (the connection closes) once every thread is busy and another connection waits for
///   one: idle keep-alive clients cannot starve the pool. So does a closing connection whose client
///   keeps sending (see linger()).
/// It installs its own post-routing and Expect handlers: do not replace them. Give the pre-routing
/// handler with set_header_checks() and the pool with set_threads(), not new_task_queue.
class BoundedServer : public httplib::Server {
public:
    static constexpr std::size_t kMaxHeadBytes = 64 * 1024;
    /// What a 417 says (the plain-text body ends with a newline; a server answering in another
    /// format rewrites it in its error handler).
    static constexpr const char* kExpectationFailed =
        "expectation failed: the only expectation served is Expect: 100-continue";

    BoundedServer() {
        httplib::Server::set_pre_routing_handler(refuse_expectation);
        set_post_routing_handler([](const httplib::Request& request, httplib::Response& response) {
            if (response.get_header_value("Connection") != "close" && !unread(request)) return;
            // One header, without httplib's Keep-Alive beside it.
            response.headers.erase("Connection");
            response.headers.erase("Keep-Alive");
            response.set_header("Connection", "close");
            closing() = true;
        });
    }

    /// Installs @p checks, which answer (Handled) what is refused from the request's headers
    /// alone, as the pre-routing handler, and runs them on a request with `Expect: 100-continue`
    /// before httplib sends `100 Continue`: a refusal (a 413 for a body over the limit, a 405, a
    /// 401) is then the only answer, with `Connection: close` (the body the client may still send
    /// is never read, see linger()); an accepted request gets its 100, and @p checks run again
    /// before routing as for any request (on a fresh Response: what they set the first time is
    /// dropped). httplib 0.11 answers the 100 before its pre-routing handler otherwise.
    /// An expectation other than 100-continue is answered 417 before @p checks run.
    BoundedServer& set_header_checks(HandlerWithResponse checks) {
        httplib::Server::set_expect_100_continue_handler(
            [checks](const httplib::Request& request, httplib::Response& response) {
                httplib::Response answer = response;
                if (checks(request, answer) != HandlerResponse::Handled) return 100;
                // As routing() has it; and httplib would write a 1xx or 417 as a bare status
                // line, then route the request anyway: a final answer it is.
                if (answer.status == -1) answer.status = 200;
                if (answer.status < 200 || answer.status == 417) answer.status = 400;
                answer.headers.erase("Connection");
                answer.set_header("Connection", "close");
                // httplib sets it while routing only: without it the body would be unframed.
                answer.headers.erase("Content-Length");
                answer.set_header("Content-Length", std::to_string(answer.body.size()));
                response = std::move(answer);
                return response.status;
            });
        httplib::Server::set_pre_routing_handler([checks](const httplib::Request& request, httplib::Response& response) {
            if (refuse_expectation(request, response) == HandlerResponse::Handled) return HandlerResponse::Handled;
            return checks(request, response);
        });
        return *this;
    }

    /// Serves connections with a pool of @p threads (at least 1) whose idle keep-alive
    /// connections yield to waiting ones: see Load.
    BoundedServer& set_threads(std::size_t threads) {
        load_->threads = std::max<std::size_t>(1, threads);
        new_task_queue = [load = load_] { return new CountingPool(load); };
        return *this;
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

    /// What a request's Expect fields (all of them, each a comma-separated list) ask for: nothing
    /// (absent, or only empty members), `100-continue` alone (in any letter case, once or more), or
    /// something else besides (`200-ok`, `100-continue=1`, `100-continue, x`).
    enum class Expectation { none, continue_100, other };

    static Expectation expectation(const httplib::Request& request) {
        Expectation found = Expectation::none;
        const auto [first, last] = request.headers.equal_range("Expect");
        for (auto it = first; it != last; ++it) {
            const std::string& value = it->second;
            for (std::size_t start = 0; start <= value.size();) {
                const std::size_t comma = std::min(value.find(',', start), value.size());
                const std::string member = trimmed(value.substr(start, comma - start));
                if (!member.empty()) {
                    if (!same_letters(member, "100-continue")) return Expectation::other;
                    found = Expectation::continue_100;
                }
                start = comma + 1;
            }
        }
        return found;
    }

private:
    using Clock = std::chrono::steady_clock;
    // Through set_header_checks() only: the Expect handler must run the same checks.
    using httplib::Server::set_expect_100_continue_handler;
    using httplib::Server::set_pre_routing_handler;

    // The pool's load, for an idle keep-alive connection to tell whether it holds a thread another
    // connection waits for. An idle connection otherwise holds its thread for the whole keep-alive
    // timeout: as many idle clients as threads (a browser keeps several connections open) made
    // every request wait up to 5 s. Of httplib's means, a shorter keep-alive timeout only shortens
    // that wait, a keep-alive max count does not bound an idle connection at all, and a larger
    // pool only raises the number of idle clients it takes. So an idle connection yields: once
    // every thread is busy and a connection waits that no other idle one yielded to, it closes
    // (which HTTP allows of an idle connection at any time; clients reconnect), its thread taking
    // the waiting one. Idle clients keep their connections while threads are to spare. A connection
    // that has sent nothing yet waits the same way (for up to the keep-alive timeout) and yields
    // the same: opening connections and sending nothing starves the pool no more.
    struct Load {
        std::mutex mutex;
        std::size_t threads = 0;   // the pool's; 0 (no set_threads()): idle connections never yield
        std::size_t running = 0;   // connections a thread serves, idle ones included
        std::size_t queued = 0;    // connections accepted and waiting for a thread
        std::size_t yielded = 0;   // idle connections closed for queued ones not yet taken

        // True when an idle connection should close for a waiting one (and counts it).
        bool yield_to_waiting() {
            std::lock_guard<std::mutex> lock(mutex);
            if (threads == 0 || running < threads || queued <= yielded) return false;
            ++yielded;
            return true;
        }
        void started() {
            std::lock_guard<std::mutex> lock(mutex);
            --queued;
            if (yielded > 0) --yielded;
            ++running;
        }
    };

    // httplib's ThreadPool, counting its connections in a Load.
    class CountingPool final : public httplib::TaskQueue {
    public:
        explicit CountingPool(std::shared_ptr<Load> load) : load_(std::move(load)), pool_(load_->threads) {}

        void enqueue(std::function<void()> serve) override {
            {
                std::lock_guard<std::mutex> lock(load_->mutex);
                ++load_->queued;
            }
            pool_.enqueue([load = load_, serve = std::move(serve)] {
                load->started();
                serve();
                std::lock_guard<std::mutex> lock(load->mutex);
                --load->running;
            });
        }
        void shutdown() override { pool_.shutdown(); }

    private:
        std::shared_ptr<Load> load_;
        httplib::ThreadPool pool_;
    };

    // Optional white space around a list member (RFC 9110 §5.6.1).
    static std::string trimmed(const std::string& text) {
        const auto begin = text.find_first_not_of(" \t");
        if (begin == std::string::npos) return {};
        return text.substr(begin, text.find_last_not_of(" \t") - begin + 1);
    }

    static bool same_letters(const std::string& a, const std::string& b) {
        return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
                   return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
               });
    }

    // Runs (through process_request's setup hook) after the headers are read and before httplib
    // looks at Expect, which it compares with the exact bytes `100-continue`, of the first field
    // only: a 100-continue in any case becomes those bytes (and is dropped from an HTTP/1.0
    // request, whose client knows no 1xx answer: RFC 9110 §10.1.1), and the fields of any other
    // expectation become one, so httplib never sends a 100 for it (refuse_expectation answers it).
    static void normalize_expectation(httplib::Request& request) {
        const Expectation found = expectation(request);
        if (found == Expectation::none) return;
        std::string joined;
        const auto [first, last] = request.headers.equal_range("Expect");
        for (auto it = first; it != last; ++it) joined += (joined.empty() ? "" : ", ") + it->second;
        request.headers.erase("Expect");
        if (found == Expectation::other) request.headers.emplace("Expect", joined);
        else if (request.version != "HTTP/1.0") request.headers.emplace("Expect", "100-continue");
    }

    // 417 for an expectation this server cannot meet (RFC 9110 §10.1.1 allows it; a client that
    // sent one asked for something other than the plain request). Answered from the headers: the
    // body a client may send along is left unread, and the connection closes.
    static HandlerResponse refuse_expectation(const httplib::Request& request, httplib::Response& response) {
        if (expectation(request) != Expectation::other) return HandlerResponse::Unhandled;
        response.status = 417;
        response.set_header("Connection", "close");
        response.set_content(std::string(kExpectationFailed) + "\n", "text/plain");
        return HandlerResponse::Handled;
    }

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
    // is stopping (httplib's own wait runs its full timeout, and stop() joins it) and whether a
    // connection waits for this thread (see Load).
    bool next_request(const Connection& connection) const {
        if (connection.buffered()) return true;
        const auto deadline = Clock::now() + std::chrono::seconds(keep_alive_timeout_sec_);
        while (serving() && Clock::now() < deadline) {
            if (wait_for(connection.socket(), POLLIN, std::chrono::milliseconds(50))) return true;
            if (load_->yield_to_waiting()) return false;
        }
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
            ok = process_request(connection, left == 1, client_closes, normalize_expectation);
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
    // thread 100 ms, not a timeout. A client that keeps sending held its thread the whole 2 s, and
    // as many such clients as threads, reconnecting, held every request up: like an idle
    // connection, a lingering one gives its thread up once every thread is busy and a connection
    // waits (see Load), closing at once: as past the 2 s, the reply is written and what the client
    // still sends is answered with a reset.
    void linger(const Connection& connection) const {
        const int fd = connection.socket();
        ::shutdown(fd, SHUT_WR);
        const auto end = Clock::now() + std::chrono::seconds(2);
        std::array<char, 16384> sink{};
        while (serving() && Clock::now() < end && !load_->yield_to_waiting() &&
               wait_for(fd, POLLIN, std::chrono::milliseconds(100)))
            if (::recv(fd, sink.data(), sink.size(), 0) <= 0) return;
    }

    std::shared_ptr<Load> load_ = std::make_shared<Load>();
};

}  // namespace failpipe::detail
