// The one place where hiredis failures become failpipe errors. Nothing here ever prints a URL or a
// command argument: endpoints are `host:port/db` and commands are named by their first word.
#include <cctype>
#include <cerrno>
#include <cstring>
#include <string>

#include "cluster_client.hpp"
#include "connection.hpp"
#include "failpipe/error.hpp"

namespace failpipe::detail::redis {
namespace {

std::string prefix(const std::string& endpoint) { return "Redis at " + endpoint + ": "; }

bool is_timeout(int saved_errno, std::string_view errstr) {
    if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT || saved_errno == EINPROGRESS) {
        return true;
    }
    // hiredis formats errno into errstr; errno itself may have been overwritten since.
    return errstr.find("timed out") != std::string_view::npos ||
           errstr.find("Resource temporarily unavailable") != std::string_view::npos;
}

std::string_view reply_text(const redisReply& reply) { return text_of(reply); }

constexpr std::string_view kAclHint =
    "; the adapter's Redis user needs the commands and keys listed in docs/redis.md, section \"ACL\"";

// The command an ACL refusal names: "... run the 'xreadgroup' command" (a command sent by the
// client), or "NOPERM failpipe: XADD refused in a script" (the scripts name it themselves).
std::string denied_command(std::string_view text) {
    constexpr std::string_view quoted = "run the '";
    if (auto at = text.find(quoted); at != std::string_view::npos) {
        const auto begin = at + quoted.size();
        const auto end = text.find('\'', begin);
        if (end != std::string_view::npos) {
            std::string name(text.substr(begin, end - begin));
            for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            return name;
        }
    }
    constexpr std::string_view named = "NOPERM failpipe: ";
    if (auto at = text.find(named); at != std::string_view::npos) {
        const auto begin = at + named.size();
        return std::string(text.substr(begin, text.find(' ', begin) - begin));
    }
    return {};
}

bool is_acl_refusal(std::string_view text) {
    return text.substr(0, 6) == "NOPERM" || text.find("The user executing the script") != std::string_view::npos;
}

}  // namespace

std::string describe_server_error(std::string_view text) {
    if (!is_acl_refusal(text)) return std::string(text);
    const std::string command = denied_command(text);
    std::string what = command.empty() ? "the server's ACL refused a command or key of the adapter"
                                       : "the server's ACL does not let this user run " + command;
    return what + " (" + std::string(text) + ")" + std::string(kAclHint);
}

void throw_context_error(int err, std::string_view errstr, int saved_errno, const std::string& endpoint,
                         std::string_view doing) {
    const std::string what = prefix(endpoint) + std::string(doing);
    switch (err) {
        case REDIS_ERR_IO:
            if (is_timeout(saved_errno, errstr)) throw TimeoutError(what + ": no answer in time (" + std::string(errstr) + ")");
            throw ConnectionError(what + ": " + std::string(errstr));
        case REDIS_ERR_EOF:
            throw ConnectionError(what + ": the server closed the connection");
        case REDIS_ERR_PROTOCOL:
            throw ProtocolError(what + ": protocol error (" + std::string(errstr) + ")");
        case REDIS_ERR_OOM:
            throw ConnectionError(what + ": out of memory in the client");
        default:
            // REDIS_ERR_OTHER: name resolution, bad timeout value, and the like.
            if (is_timeout(saved_errno, errstr)) throw TimeoutError(what + ": " + std::string(errstr));
            throw ConnectionError(what + ": " + (errstr.empty() ? std::string("unknown error") : std::string(errstr)));
    }
}

bool is_error_reply(const redisReply& reply, std::string_view code) noexcept {
    if (reply.type != REDIS_REPLY_ERROR) return false;
    std::string_view text = reply_text(reply);
    return text.substr(0, code.size()) == code && (text.size() == code.size() || text[code.size()] == ' ');
}

void throw_if_error_reply(const redisReply& reply, const std::string& endpoint, std::string_view command) {
    if (reply.type != REDIS_REPLY_ERROR) return;
    // MOVED/ASK/TRYAGAIN/CLUSTERDOWN as their own types (a ProtocolError / ConnectionError with the
    // same text as below), so the cluster client can follow or wait them out.
    throw_if_cluster_reply(reply, endpoint, command);
    const std::string text(reply_text(reply));
    // States the server leaves on its own: loading the dataset after a restart, a long script,
    // a failover. Callers retry these like a lost connection.
    // OOM (maxmemory reached with noeviction), MISCONF (a failed snapshot stops writes) and
    // NOREPLICAS (min-replicas-to-write) pass as well once the operator acts. The connection that
    // carried such a reply is dropped by the caller, never used to send the command again.
    for (std::string_view passing : {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "READONLY", "OOM",
                                     "MISCONF", "NOREPLICAS"}) {
        if (is_error_reply(reply, passing)) {
            std::string hint;
            if (passing == "OOM") hint = " (the server is at maxmemory with a noeviction policy: new messages are refused until memory is freed; settles still run)";
            throw ConnectionError(prefix(endpoint) + "server not ready for " + std::string(command) + ": " + text + hint);
        }
    }
    // A user without a permission the adapter needs: a configuration mistake, the same on every try.
    if (is_acl_refusal(text)) throw ProtocolError(prefix(endpoint) + std::string(command) + " refused: " + describe_server_error(text));
    throw ProtocolError(prefix(endpoint) + std::string(command) + " failed: " + text);
}

void throw_if_setup_refused(const redisReply& reply, const std::string& endpoint, std::string_view command) {
    if (reply.type != REDIS_REPLY_ERROR) return;
    // A server state that passes (loading after a restart, ...) is worth another try.
    for (std::string_view passing : {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN"}) {
        if (is_error_reply(reply, passing)) {
            throw ConnectionError(prefix(endpoint) + std::string(command) + " refused for now: " + std::string(reply_text(reply)));
        }
    }
    // Anything else (wrong password, unknown user, database out of range) fails the same way on
    // every try: not a ConnectionError, which workers retry forever. The server's text never
    // contains the password.
    const std::string fix = command == "SELECT" ? "check the database number (after '/') in the URL"
                                                : "check the user name and password in the URL";
    throw ProtocolError(prefix(endpoint) + std::string(command) + " refused: " + std::string(reply_text(reply)) + " (" + fix + ")");
}

void throw_unexpected_reply(const redisReply& reply, const std::string& endpoint, std::string_view command,
                            std::string_view expected) {
    static constexpr const char* names[] = {"?", "string", "array", "integer", "nil", "status", "error"};
    const char* got = reply.type >= 1 && reply.type <= 6 ? names[reply.type] : "unknown";
    throw ProtocolError(prefix(endpoint) + "unexpected reply to " + std::string(command) + ": expected " +
                        std::string(expected) + ", got " + got);
}

}  // namespace failpipe::detail::redis
