// RedisAdapter::browse_after (browse_cursor.cpp) runs browse_after.lua through the core's
// connections, as browse does; the core is defined in redis_adapter.cpp only.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "failpipe/message.hpp"
#include "script_args.hpp"

namespace failpipe::detail::redis {

class AdapterCore;

/// Runs the script @p make builds: header.size() leading strings of its reply go into @p header,
/// the (stream id, fields) pairs after them become the messages (undecodable ones as browse shows them).
std::vector<Message> run_browse_script(AdapterCore& core, const std::string& channel,
                                       const std::function<ScriptCall(const ScriptHead&)>& make,
                                       std::vector<std::string>& header, const char* what);

}  // namespace failpipe::detail::redis
