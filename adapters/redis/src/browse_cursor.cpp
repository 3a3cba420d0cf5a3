// Cursor paging on Redis: browse_after.lua reads from an exclusive stream id (XRANGE) or from a
// (due score, member) position (ZRANK / ZRANGE BYSCORE), so a page costs O(log n + limit) however
// deep it is. Cursors: `r:<stream id>`, `d:<score>:<member in hex>` (hex: a member is any bytes).
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>

#include "browse_cursor.hpp"
#include "failpipe/error.hpp"
#include "failpipe/redis/redis_adapter.hpp"

namespace failpipe {
namespace detail::redis {
namespace {

struct RedisCursor {
    std::string kind;  // '' | 'r' | 'd'
    std::string ref;   // stream id | member
    std::string score;
};

bool all_digits(std::string_view text) {
    return !text.empty() && text.size() <= 20 &&
           std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

bool stream_id(std::string_view text) {
    const auto dash = text.find('-');
    return dash != std::string_view::npos && all_digits(text.substr(0, dash)) && all_digits(text.substr(dash + 1));
}

bool score(std::string_view text) {
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return !text.empty() && text.size() <= 32 && ec == std::errc{} && end == text.data() + text.size() &&
           std::isfinite(value);
}

int nibble(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

std::optional<std::string> unhex(std::string_view text) {
    if (text.empty() || text.size() % 2 != 0) return std::nullopt;
    std::string out;
    out.reserve(text.size() / 2);
    for (std::size_t i = 0; i < text.size(); i += 2) {
        const int high = nibble(text[i]), low = nibble(text[i + 1]);
        if (high < 0 || low < 0) return std::nullopt;
        out.push_back(static_cast<char>(high * 16 + low));
    }
    return out;
}

std::optional<RedisCursor> parse_cursor(std::string_view text) {
    if (text.empty()) return RedisCursor{};
    if (text.starts_with("r:") && stream_id(text.substr(2))) return RedisCursor{"r", std::string(text.substr(2)), ""};
    if (!text.starts_with("d:")) return std::nullopt;
    text.remove_prefix(2);
    const auto colon = text.find(':');
    if (colon == std::string_view::npos || !score(text.substr(0, colon))) return std::nullopt;
    auto member = unhex(text.substr(colon + 1));
    if (!member) return std::nullopt;
    return RedisCursor{"d", std::move(*member), std::string(text.substr(0, colon))};
}

}  // namespace
}  // namespace detail::redis

BrowsePage RedisAdapter::browse_after(const std::string& channel, const BrowseCursor& after, std::size_t limit) {
    using namespace detail::redis;
    if (channel.empty()) throw InvalidArgumentError("RedisAdapter::browse_after: the channel name is empty");
    if (limit == 0) throw InvalidArgumentError("RedisAdapter::browse_after: limit must be at least 1");
    const auto cursor = parse_cursor(after);
    if (!cursor) throw InvalidArgumentError("RedisAdapter::browse_after: not a cursor of this adapter: " + after.substr(0, 64));
    limit = std::min<std::size_t>(limit, std::size_t{1} << 40);  // Lua numbers are doubles
    std::vector<std::string> header(2);  // end, next cursor
    BrowsePage page;
    page.messages = run_browse_script(
        core_of(channel), channel,
        [&](const ScriptHead& head) { return browse_after_call(head, channel, limit, cursor->kind, cursor->ref, cursor->score); },
        header, "EVALSHA browse_after");
    page.end = header[0] == "1";
    page.next = header[1].empty() ? after : std::move(header[1]);
    return page;
}

}  // namespace failpipe
