#include "durability.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "failpipe/error.hpp"
#include "cluster_client.hpp"

namespace failpipe::detail::redis {
namespace {

constexpr long long kMaxReplicas = 1000;
constexpr long long kMaxWaitMs = 3'600'000;

[[noreturn]] void refuse(const std::string& shown_url, const std::string& why) {
    throw InvalidArgumentError("failpipe::RedisAdapter: invalid Redis URL \"" + shown_url + "\": " + why);
}

std::optional<long long> whole_number(std::string_view text) {
    long long value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return value;
}

// The query starts at the first '?' after the user-info: a password may hold a '?'.
std::pair<std::string, std::string> split_query(const std::string& url) {
    const auto at = url.rfind('@');
    const auto question = url.find('?', at == std::string::npos ? 0 : at);
    if (question == std::string::npos) return {url, {}};
    return {url.substr(0, question), url.substr(question + 1)};
}

void apply_parameter(RedisAdapter::Options& options, std::string_view key, std::string_view value,
                     const std::string& shown) {
    if (key == "durability") {
        if (value == "replicas") {
            options.durability = RedisAdapter::Durability::replicas;
        } else if (value == "master" || value == "none") {
            options.durability = RedisAdapter::Durability::master;
        } else {
            refuse(shown, "durability must be \"master\" (or \"none\") or \"replicas\", not \"" + std::string(value) + "\"");
        }
    } else if (key == "replicas") {
        const auto n = whole_number(value);
        if (!n || *n < 1 || *n > kMaxReplicas) refuse(shown, "replicas must be a number from 1 to 1000");
        options.durability_replicas = static_cast<std::size_t>(*n);
    } else if (key == "waitMs") {
        const auto ms = whole_number(value);
        if (!ms || *ms < 1 || *ms > kMaxWaitMs) refuse(shown, "waitMs must be a number of milliseconds from 1 to 3600000");
        options.durability_timeout = Seconds{static_cast<double>(*ms) / 1000.0};
    } else {
        refuse(shown, "unknown query parameter \"" + std::string(key) +
                          "\" (known: durability, replicas, waitMs, keyLayout; see docs/redis.md, \"Durability\", and docs/shard-groups.md, \"Key layout\")");
    }
}

}  // namespace

RedisAdapter::Options with_url_durability(RedisAdapter::Options options) {
    auto [base, query] = split_query(options.url);
    if (base.size() != options.url.size()) {
        const std::string shown = redacted_url(base) + "?" + query;  // never shows a password
        std::vector<std::string> seen;
        bool waits_named = false;
        std::size_t begin = 0;
        while (begin <= query.size() && !query.empty()) {
            std::size_t end = query.find('&', begin);
            if (end == std::string::npos) end = query.size();
            const std::string_view pair = std::string_view(query).substr(begin, end - begin);
            const auto equals = pair.find('=');
            if (equals == std::string_view::npos || equals == 0) refuse(shown, "each query parameter must be name=value");
            const std::string key(pair.substr(0, equals));
            if (std::find(seen.begin(), seen.end(), key) != seen.end()) refuse(shown, "\"" + key + "\" is given twice");
            seen.push_back(key);
            waits_named = waits_named || key != "durability";
            apply_parameter(options, key, pair.substr(equals + 1), shown);
            begin = end + 1;
        }
        if (waits_named && options.durability != RedisAdapter::Durability::replicas) {
            refuse(shown, "replicas and waitMs take effect only with durability=replicas");
        }
        options.url = base;
    }
    if (options.durability == RedisAdapter::Durability::replicas) {
        if (options.durability_replicas < 1 || options.durability_replicas > kMaxReplicas) {
            throw InvalidArgumentError("failpipe::RedisAdapter: durability_replicas must be 1..1000 with durability \"replicas\"");
        }
        if (!(options.durability_timeout.count() > 0.0) || options.durability_timeout.count() * 1000.0 > kMaxWaitMs) {
            throw InvalidArgumentError("failpipe::RedisAdapter: durability_timeout must be more than 0 and at most 3600 s");
        }
    }
    return options;
}

}  // namespace failpipe::detail::redis
