// Parsing of redis:// URLs. Credentials are kept apart from everything that can end up in a
// message, so that no error or log line can show them.
#pragma once

#include <string>
#include <string_view>

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

}  // namespace failpipe::detail::redis
