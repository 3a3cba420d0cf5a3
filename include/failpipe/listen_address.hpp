/// @file listen_address.hpp
/// @brief ListenAddress: where the runtime's HTTP endpoints listen (config `http.listen`).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace failpipe {

/// @brief A numeric address and a port: `127.0.0.1:9464`, `[::1]:9464`, `localhost:9464`.
///
/// Host names other than `localhost` are refused: an endpoint must not depend on name resolution.
struct ListenAddress {
    std::string host = "127.0.0.1";  ///< An IPv4 or IPv6 address (without brackets), or `localhost`.
    std::uint16_t port = 9464;       ///< 0 = any free port (tests).

    /// @brief Parses `host:port`. Throws InvalidArgumentError saying what is wrong.
    static ListenAddress parse(std::string_view text);
    /// @brief True for 127.0.0.0/8, ::1 and `localhost`.
    bool loopback() const noexcept;
    /// @brief `host:port`, IPv6 hosts in brackets.
    std::string to_string() const;
};

}  // namespace failpipe
