// One Redis connection (RAII over hiredis' redisContext), the replies it reads, and the one place
// where hiredis failures become failpipe errors.
//
// Thread safety: a Connection is used by one thread at a time (the pool and the write combiner
// make sure of it).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <hiredis/hiredis.h>

#include "failpipe/clock.hpp"
#include "url.hpp"

namespace failpipe::detail::redis {

// --- error mapping (errors.cpp) -----------------------------------------------------------------

/// Turns a failed hiredis call into ConnectionError / TimeoutError / ProtocolError. @p saved_errno
/// is errno right after the call; @p doing says what was being done ("reading the reply to EVALSHA").
[[noreturn]] void throw_context_error(int err, std::string_view errstr, int saved_errno, const std::string& endpoint,
                                      std::string_view doing);

/// Throws when @p reply is an error reply: ConnectionError for server states that pass (LOADING,
/// BUSY, MASTERDOWN, ...), ProtocolError for the rest.
void throw_if_error_reply(const redisReply& reply, const std::string& endpoint, std::string_view command);

/// Throws when @p reply refuses a connection's setup (AUTH, SELECT): ConnectionError for a passing
/// server state, else ProtocolError (bad credentials or database: retrying cannot help). The
/// server's text names no credentials.
void throw_if_setup_refused(const redisReply& reply, const std::string& endpoint, std::string_view command);

/// Throws ProtocolError: @p reply is not of the shape @p expected.
[[noreturn]] void throw_unexpected_reply(const redisReply& reply, const std::string& endpoint, std::string_view command,
                                         std::string_view expected);

/// The server's error @p text as the adapter shows it (an error reply, or the error of one operation
/// inside a script): an ACL refusal names the denied command and what to grant; anything else is
/// returned as it is.
std::string describe_server_error(std::string_view text);

/// True for an error reply whose code is @p code (e.g. "NOSCRIPT").
bool is_error_reply(const redisReply& reply, std::string_view code) noexcept;

// --- replies ------------------------------------------------------------------------------------

struct ReplyDeleter {
    void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
/// A reply owned until it goes out of scope.
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

/// The bytes of a string/status reply element.
inline std::string_view text_of(const redisReply& reply) noexcept {
    return reply.str != nullptr ? std::string_view(reply.str, reply.len) : std::string_view{};
}

// --- commands -----------------------------------------------------------------------------------

/// The arguments of one command. Views must outlive the Args; copies are kept inside.
///
/// Copies are referred to by index, not by pointer, so they may live in a plain vector (whose growth
/// moves strings) without an allocation per part.
class Args {
public:
    Args() = default;
    Args(std::initializer_list<std::string_view> parts) {
        for (auto part : parts) add(part);
    }
    void reserve(std::size_t n) { parts_.reserve(n); }
    /// Adds @p part by reference: the caller keeps the bytes alive until the command is sent.
    void add(std::string_view part) {
        parts_.push_back(Part{part.data() != nullptr ? part.data() : "", part.size(), kExternal});
    }
    /// Adds a copy of @p part.
    void add_copy(std::string part) {
        owned_.push_back(std::move(part));
        parts_.push_back(Part{nullptr, 0, owned_.size() - 1});
    }
    void add_number(long long value) { add_copy(std::to_string(value)); }
    std::size_t size() const noexcept { return parts_.size(); }
    /// Part @p index.
    std::string_view at(std::size_t index) const noexcept {
        const Part& part = parts_[index];
        if (part.owned == kExternal) return {part.data, part.size};
        return owned_[part.owned];
    }
    /// Replaces part @p index by @p part (by reference).
    void set(std::size_t index, std::string_view part) { parts_[index] = Part{part.data(), part.size(), kExternal}; }
    /// The command name, for error messages (never an argument: those may be secrets or payloads).
    std::string_view name() const noexcept { return parts_.empty() ? std::string_view{} : at(0); }

private:
    static constexpr std::size_t kExternal = static_cast<std::size_t>(-1);
    struct Part {
        const char* data;
        std::size_t size;
        std::size_t owned;  // index into owned_, or kExternal
    };
    std::vector<Part> parts_;
    std::vector<std::string> owned_;
};

/// Counters shared by every connection of one adapter (for RedisAdapter::stats()).
struct Counters {
    std::atomic<std::uint64_t> commands{0};
    std::atomic<std::uint64_t> connects{0};
};

struct ContextDeleter {
    void operator()(redisContext* context) const noexcept { redisFree(context); }
};

/// One connection, connected lazily, replaced (reconnected) after any I/O failure.
class Connection {
public:
    Connection(const Endpoint& endpoint, Seconds connect_timeout, Seconds command_timeout, Counters& counters);
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    bool connected() const noexcept { return context_ != nullptr; }
    /// True when the connection was open before and has answered since: a failure on it may just
    /// mean the server dropped an idle connection (restart, timeout), so one more try is worth it.
    bool reused() const noexcept { return context_ != nullptr && answered_ > 0; }

    /// Connects (AUTH, SELECT) unless connected. Throws ConnectionError/TimeoutError.
    void connect();
    /// Drops the connection; the next command connects again.
    void disconnect() noexcept;

    /// Sends @p args and reads the reply (error replies are returned, not thrown).
    Reply command(const Args& args);
    /// Queues @p args in the output buffer (pipelining); nothing is sent yet.
    void append(const Args& args);
    /// Writes the output buffer now, so the server can start while the client prepares more.
    void flush();
    /// Reads the next reply (flushing first). Error replies are returned, not thrown.
    Reply read(std::string_view command);
    /// Sets the socket timeouts of this connection (restored by restore_timeout()).
    void set_timeout(std::chrono::milliseconds timeout);
    void restore_timeout();

    const std::string& endpoint() const noexcept { return endpoint_->display; }

private:
    [[noreturn]] void fail(std::string_view doing, std::string_view command);

    const Endpoint* endpoint_;
    Counters* counters_;
    std::string scratch_;  // the RESP of the command being queued (kept to reuse its buffer)
    Seconds connect_timeout_;
    Seconds command_timeout_;
    std::unique_ptr<redisContext, ContextDeleter> context_;
    std::size_t answered_ = 0;
    bool custom_timeout_ = false;
};

}  // namespace failpipe::detail::redis
