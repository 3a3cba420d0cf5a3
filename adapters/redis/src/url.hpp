// Parsing of redis:// URLs. Credentials are kept apart from everything that can end up in a
// message, so that no error or log line can show them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "failpipe/shard_groups.hpp"

namespace failpipe::detail::redis {

/// Where a Redis server is and how to log in.
struct Endpoint {
    std::string host;
    int port = 6379;
    std::string user;      ///< ACL user (Redis 6+); empty = the default user
    std::string password;  ///< may be empty (`redis://user:@host`: AUTH user "")
    bool auth = false;     ///< send AUTH (the URL names a user or a password)
    long long db = 0;
    std::string display;   ///< `host:port/db`, safe to print
    std::string redacted;  ///< the URL with the password replaced by `***`
};

/// Parses `redis://[user:password@]host[:port][/db]`. Throws InvalidArgumentError naming what is
/// wrong; the message shows the URL with its user-info redacted.
Endpoint parse_url(std::string_view url);

/// The key layout the query of @p url names (`?keyLayout=prefix|groups`), and @p url without that
/// parameter (the other parameters, e.g. durability's, kept in their order; no `?` left when none
/// remain). The query starts at the first `?` after the user-info. Throws InvalidArgumentError (URL
/// redacted) for another value or the parameter given twice.
std::optional<KeyLayout> take_key_layout(std::string& url);

}  // namespace failpipe::detail::redis
