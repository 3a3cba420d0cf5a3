// The DNS-rebinding guard: which `Host` headers the dashboard answers.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "failpipe/listen_address.hpp"

namespace failpipe::dashboard::detail {

/// A page of another site reached through a DNS name rebound to the dashboard's address sends that
/// name as Host: only the names the dashboard was told about are answered. Those are the listen
/// address itself, the loopback names (`127.0.0.1`, `localhost`, `[::1]`), each with the port
/// served, and DashboardOptions::allowed_hosts (`name` meaning name:PORT, or `name:port` as it is).
/// Names compare without regard to case; on port 80 a Host without a port means port 80.
class HostGuard {
public:
    HostGuard() = default;
    HostGuard(const ListenAddress& listen, std::uint16_t port, const std::vector<std::string>& allowed);
    bool allows(const std::string& host_header) const;

    /// Throws InvalidArgumentError unless every entry of @p allowed is a host name (name or name:port).
    static void check(const std::vector<std::string>& allowed);

private:
    std::uint16_t port_ = 0;
    std::set<std::string> hosts_;
};

}  // namespace failpipe::dashboard::detail
