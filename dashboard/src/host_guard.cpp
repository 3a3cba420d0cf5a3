#include "host_guard.hpp"

#include <algorithm>
#include <cctype>

#include "failpipe/error.hpp"

namespace failpipe::dashboard::detail {
namespace {

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

bool has_port(const std::string& host) {
    if (!host.empty() && host.front() == '[') return host.find("]:") != std::string::npos;
    return host.find(':') != std::string::npos;
}

}  // namespace

HostGuard::HostGuard(const ListenAddress& listen, std::uint16_t port, const std::vector<std::string>& allowed) : port_(port) {
    const std::string p = std::to_string(port);
    ListenAddress served = listen;
    served.port = port;
    hosts_ = {"127.0.0.1:" + p, "localhost:" + p, "[::1]:" + p, lower(served.to_string())};
    for (const auto& host : allowed) hosts_.insert(lower(has_port(host) ? host : host + ":" + p));
}

bool HostGuard::allows(const std::string& host_header) const {
    std::string host = lower(host_header);
    if (port_ == 80 && !host.empty() && !has_port(host)) host += ":80";
    return hosts_.count(host) > 0;
}

void HostGuard::check(const std::vector<std::string>& allowed) {
    for (const auto& host : allowed)
        if (host.empty() || host.size() > 260 || host.find_first_of(" \t\r\n/\\@*?#,") != std::string::npos)
            throw InvalidArgumentError("dashboard: allowed_hosts holds \"" + host.substr(0, 100) +
                                       "\", which is not a host name (name or name:port)");
}

}  // namespace failpipe::dashboard::detail
