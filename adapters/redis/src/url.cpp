#include "url.hpp"

#include <charconv>
#include <string>

#include "cluster_client.hpp"
#include "failpipe/error.hpp"

namespace failpipe::detail::redis {
namespace {

// Without '@', "user:secret" would parse as host:port: a "port" that is not a number is hidden.
std::string mask_port(std::string_view rest) {
    auto end = rest.find('/');
    std::string_view authority = rest.substr(0, end);
    std::string_view tail = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return std::string(authority.substr(0, 1)) + "***" + std::string(tail);
        std::string_view after = authority.substr(close + 1);
        if (after.empty() || after.find_first_not_of("0123456789:") == std::string_view::npos) return std::string(rest);
        return std::string(authority.substr(0, close + 1)) + ":***" + std::string(tail);
    }
    auto colon = authority.find(':');
    if (colon == std::string_view::npos) return std::string(rest);
    std::string_view port = authority.substr(colon + 1);
    if (!port.empty() && port.find_first_not_of("0123456789") == std::string_view::npos) return std::string(rest);
    return std::string(authority.substr(0, colon + 1)) + "***" + std::string(tail);
}

// The URL as it may be shown: whatever sits before '@' is user-info and is hidden.
std::string redact(std::string_view url) {
    constexpr std::string_view scheme = "redis://";
    if (url.substr(0, scheme.size()) != scheme) {
        // Unknown shape: show only the scheme-ish head, never the rest (it may hold a password).
        auto at = url.rfind('@');
        if (at == std::string_view::npos) {
            auto sep = url.find("://");
            if (sep == std::string_view::npos) return url.find(':') == std::string_view::npos ? std::string(url) : "***";
            return std::string(url.substr(0, sep + 3)) + mask_port(url.substr(sep + 3));
        }
        return "***" + std::string(url.substr(at));
    }
    std::string_view rest = url.substr(scheme.size());
    auto at = rest.rfind('@');
    if (at == std::string_view::npos) return std::string(scheme) + mask_port(rest);
    return std::string(scheme) + "***" + std::string(rest.substr(at));
}

[[noreturn]] void refuse(std::string_view url, const std::string& why) {
    throw InvalidArgumentError("failpipe::RedisAdapter: invalid Redis URL \"" + redact(url) + "\": " + why);
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Percent-decoding, so a password may contain '@', ':' or '/'.
bool percent_decode(std::string_view in, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out.push_back(in[i]);
            continue;
        }
        if (i + 2 >= in.size()) return false;
        const int hi = hex_value(in[i + 1]);
        const int lo = hex_value(in[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return true;
}

template <class Int>
bool parse_int(std::string_view text, Int& value) {
    if (text.empty()) return false;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc{} && end == text.data() + text.size();
}

}  // namespace

Endpoint parse_url(std::string_view url) {
    constexpr std::string_view scheme = "redis://";
    if (url.substr(0, 9) == "rediss://") refuse(url, "TLS (rediss://) is not supported by this build");
    if (url.substr(0, scheme.size()) != scheme) refuse(url, "it must start with redis://");
    std::string_view rest = url.substr(scheme.size());

    Endpoint endpoint;
    // The path (/db) starts at the first '/' after the user-info.
    auto at = rest.rfind('@');
    std::string_view userinfo;
    if (at != std::string_view::npos) {
        userinfo = rest.substr(0, at);
        rest = rest.substr(at + 1);
    }
    std::string_view path;
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        path = rest.substr(slash + 1);
        rest = rest.substr(0, slash);
    }
    if (rest.find_first_of("?#") != std::string_view::npos || path.find_first_of("?#") != std::string_view::npos) {
        refuse(url, "query strings and fragments are not supported");
    }

    // host[:port], with IPv6 literals in brackets.
    std::string_view host = rest;
    std::string_view port;
    if (!rest.empty() && rest.front() == '[') {
        auto close = rest.find(']');
        if (close == std::string_view::npos) refuse(url, "unterminated '[' in the host");
        host = rest.substr(1, close - 1);
        std::string_view after = rest.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') refuse(url, "expected ':' after the IPv6 host");
            port = after.substr(1);
            if (port.empty()) refuse(url, "the port is empty");
        }
    } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
        if (port.empty()) refuse(url, "the port is empty");
    }
    if (host.empty()) refuse(url, "the host is empty");
    if (host.find_first_of(" \t\r\n@/") != std::string_view::npos) refuse(url, "the host contains a forbidden character");
    endpoint.host = std::string(host);
    if (!port.empty()) {
        int value = 0;
        if (!parse_int(port, value) || value < 1 || value > 65535) refuse(url, "the port must be a number from 1 to 65535");
        endpoint.port = value;
    }
    if (!path.empty()) {
        long long db = 0;
        if (!parse_int(path, db) || db < 0 || db > 2147483647) {
            refuse(url, "the database (after '/') must be a number from 0 to 2147483647");
        }
        endpoint.db = db;
    }
    if (at != std::string_view::npos) {
        std::string_view user = userinfo;
        std::string_view password;
        if (auto colon = userinfo.find(':'); colon != std::string_view::npos) {
            user = userinfo.substr(0, colon);
            password = userinfo.substr(colon + 1);
        } else {
            // redis://secret@host is the common spelling of a password without a user.
            password = userinfo;
            user = {};
        }
        if (!percent_decode(user, endpoint.user)) refuse(url, "bad percent-escape in the user name");
        if (!percent_decode(password, endpoint.password)) refuse(url, "bad percent-escape in the password");
        // redis://user:@host logs in as user with an empty password; redis://:@host or
        // redis://@host name nobody, so no AUTH is sent.
        endpoint.auth = !endpoint.user.empty() || !endpoint.password.empty();
    }
    std::string shown_host = endpoint.host.find(':') != std::string::npos ? "[" + endpoint.host + "]" : endpoint.host;
    endpoint.display = shown_host + ":" + std::to_string(endpoint.port) + "/" + std::to_string(endpoint.db);
    endpoint.redacted = redact(url);
    return endpoint;
}

std::optional<KeyLayout> take_key_layout(std::string& url) {
    constexpr std::string_view kName = "keyLayout=";
    const auto at = url.rfind('@');
    const auto question = url.find('?', at == std::string::npos ? 0 : at);
    if (question == std::string::npos) return std::nullopt;
    const std::string base = url.substr(0, question);
    const std::string query = url.substr(question + 1);
    std::optional<KeyLayout> layout;
    std::string rest;  // the other parameters
    std::size_t begin = 0;
    while (begin <= query.size()) {
        std::size_t end = query.find('&', begin);
        if (end == std::string::npos) end = query.size();
        const std::string_view pair = std::string_view(query).substr(begin, end - begin);
        if (pair.starts_with(kName)) {
            const std::string shown = redacted_url(base) + "?" + query;  // never shows a password
            if (layout) {
                throw InvalidArgumentError("failpipe::RedisAdapter: invalid Redis URL \"" + shown +
                                           "\": \"keyLayout\" is given twice");
            }
            const std::string_view value = pair.substr(kName.size());
            layout = key_layout_named(value);
            if (!layout) {
                throw InvalidArgumentError("failpipe::RedisAdapter: invalid Redis URL \"" + shown +
                                           "\": keyLayout must be \"prefix\" (every key under {prefix}) or \"groups\" "
                                           "(each shard group's keys under {prefix:group}), not \"" + std::string(value) + "\"");
            }
        } else {
            rest += (rest.empty() ? "" : "&") + std::string(pair);
        }
        begin = end + 1;
    }
    if (layout) url = rest.empty() ? base : base + "?" + rest;
    return layout;
}

}  // namespace failpipe::detail::redis
