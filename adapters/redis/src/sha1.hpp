// SHA-1, only to name Lua scripts for EVALSHA without asking the server first.
#pragma once

#include <string>
#include <string_view>

namespace failpipe::detail::redis {

/// The SHA-1 digest of @p data as 40 lower-case hex digits (what SCRIPT LOAD answers).
std::string sha1_hex(std::string_view data);

}  // namespace failpipe::detail::redis
