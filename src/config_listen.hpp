// What the sections that serve HTTP (`http`, `dashboard`) read alike: a flag, and a `listen`
// address that stays on loopback unless the section allows more.
#pragma once

#include <optional>
#include <string_view>

#include "failpipe/config_reader.hpp"
#include "failpipe/listen_address.hpp"

namespace failpipe::detail {

/// An optional true or false; `null` counts as absent, anything else is an error and gives nothing.
std::optional<bool> optional_flag(ConfigObjectReader& reader, std::string_view key);

/// Reads `listen`: host:port with a port from 1 to 65535, and a loopback host unless
/// @p allow_non_loopback. A refusal names `allowNonLoopback` and what it would @p serve (e.g.
/// "the dashboard") beyond this machine. Absent or refused: nothing.
std::optional<ListenAddress> read_listen(ConfigObjectReader& section, bool allow_non_loopback, std::string_view serve);

}  // namespace failpipe::detail
