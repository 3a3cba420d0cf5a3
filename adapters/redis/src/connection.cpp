#include "connection.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <sys/time.h>

#include "failpipe/error.hpp"

namespace failpipe::detail::redis {
namespace {

timeval to_timeval(std::chrono::microseconds duration) {
    if (duration.count() < 1000) duration = std::chrono::microseconds(1000);
    timeval tv{};
    tv.tv_sec = static_cast<decltype(tv.tv_sec)>(duration.count() / 1000000);
    tv.tv_usec = static_cast<decltype(tv.tv_usec)>(duration.count() % 1000000);
    return tv;
}

timeval to_timeval(Seconds seconds) {
    // The adapter refuses timeouts above 1e9 s; clamp anyway, since casting an out-of-range double is UB.
    const double micros = std::ceil(std::clamp(seconds.count(), 0.0, 1e9) * 1e6);
    return to_timeval(std::chrono::microseconds(static_cast<long long>(micros)));
}

}  // namespace

Connection::Connection(const Endpoint& endpoint, Seconds connect_timeout, Seconds command_timeout, Counters& counters)
    : endpoint_(&endpoint), counters_(&counters), connect_timeout_(connect_timeout), command_timeout_(command_timeout) {}

void Connection::disconnect() noexcept {
    context_.reset();
    answered_ = 0;
    custom_timeout_ = false;
}

void Connection::fail(std::string_view doing, std::string_view command) {
    const int saved_errno = errno;
    int err = REDIS_ERR_OTHER;
    std::string errstr = "unknown error";
    if (context_) {
        err = context_->err;
        errstr = context_->errstr;
    }
    // After any I/O failure the stream may be out of step (a late reply): never use it again.
    disconnect();
    std::string what(doing);
    if (!command.empty()) what += " " + std::string(command);
    throw_context_error(err, errstr, saved_errno, endpoint_->display, what);
}

void Connection::connect() {
    if (context_) return;
    errno = 0;
    redisContext* raw = redisConnectWithTimeout(endpoint_->host.c_str(), endpoint_->port, to_timeval(connect_timeout_));
    if (raw == nullptr) throw ConnectionError("Redis at " + endpoint_->display + ": cannot allocate a connection");
    context_.reset(raw);
    if (raw->err != 0) fail("connecting", {});
    counters_->connects.fetch_add(1, std::memory_order_relaxed);
    if (redisSetTimeout(raw, to_timeval(command_timeout_)) != REDIS_OK) fail("setting the socket timeout", {});
    // Keep-alive lets the kernel notice a vanished server on idle pooled connections.
    redisEnableKeepAlive(raw);

    // AUTH and SELECT: a refusal here is a failure to connect; the connection is not kept.
    auto check_setup = [this](Reply reply, std::string_view command) {
        if (reply->type == REDIS_REPLY_ERROR) {
            disconnect();
            throw_if_setup_refused(*reply, endpoint_->display, command);
        }
    };
    if (endpoint_->auth) {
        Args auth;
        auth.add("AUTH");
        if (!endpoint_->user.empty()) auth.add(endpoint_->user);
        auth.add(endpoint_->password);
        check_setup(command(auth), "AUTH");
    }
    if (endpoint_->db != 0) {
        Args select;
        select.add("SELECT");
        select.add_number(endpoint_->db);
        check_setup(command(select), "SELECT");
    }
    answered_ = 0;
}

Reply Connection::command(const Args& args) {
    append(args);
    return read(args.name());
}

namespace {

void append_decimal(std::string& out, std::size_t value) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
    (void)ec;
    out.append(digits, end);
}

// RESP of a command: what hiredis' redisFormatSdsCommandArgv makes, without its printf-style
// formatting of every argument (which showed up as a tenth of the client's instructions).
void format_command(const Args& args, std::string& out) {
    std::size_t size = 16;
    for (std::size_t i = 0; i < args.size(); ++i) size += args.at(i).size() + 16;
    out.clear();
    out.reserve(size);
    out.push_back('*');
    append_decimal(out, args.size());
    out.append("\r\n");
    for (std::size_t i = 0; i < args.size(); ++i) {
        std::string_view part = args.at(i);
        out.push_back('$');
        append_decimal(out, part.size());
        out.append("\r\n");
        out.append(part);
        out.append("\r\n");
    }
}

}  // namespace

void Connection::append(const Args& args) {
    connect();
    format_command(args, scratch_);
    if (redisAppendFormattedCommand(context_.get(), scratch_.data(), scratch_.size()) != REDIS_OK) {
        fail("queueing", args.name());
    }
    // A huge one-off command (push_batch) should not pin its buffer for the connection's life.
    if (scratch_.capacity() > (std::size_t{1} << 20)) std::string().swap(scratch_);
    counters_->commands.fetch_add(1, std::memory_order_relaxed);
}

void Connection::flush() {
    if (!context_) return;
    int done = 0;
    do {
        errno = 0;
        if (redisBufferWrite(context_.get(), &done) != REDIS_OK) fail("sending", "commands");
    } while (done == 0);
}

Reply Connection::read(std::string_view command) {
    if (!context_) {
        throw ConnectionError("Redis at " + endpoint_->display + ": the connection broke before the reply to " +
                              std::string(command));
    }
    void* raw = nullptr;
    errno = 0;
    if (redisGetReply(context_.get(), &raw) != REDIS_OK || raw == nullptr) fail("reading the reply to", command);
    ++answered_;
    return Reply(static_cast<redisReply*>(raw));
}

void Connection::set_timeout(std::chrono::milliseconds timeout) {
    connect();
    if (redisSetTimeout(context_.get(), to_timeval(std::chrono::duration_cast<std::chrono::microseconds>(timeout))) !=
        REDIS_OK) {
        fail("setting the socket timeout", {});
    }
    custom_timeout_ = true;
}

void Connection::restore_timeout() {
    if (!context_ || !custom_timeout_) return;
    if (redisSetTimeout(context_.get(), to_timeval(command_timeout_)) != REDIS_OK) fail("setting the socket timeout", {});
    custom_timeout_ = false;
}

}  // namespace failpipe::detail::redis
