#include "failpipe/listen_address.hpp"

#include <arpa/inet.h>

#include <charconv>

#include "failpipe/error.hpp"

namespace failpipe {
namespace {

[[noreturn]] void bad(std::string_view text, const std::string& why) {
    throw InvalidArgumentError("expected \"host:port\" with a numeric address or localhost (e.g. \"127.0.0.1:9464\"), "
                               "found \"" + std::string(text.substr(0, 200)) + "\": " + why);
}

}  // namespace

ListenAddress ListenAddress::parse(std::string_view text) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) bad(text, "no port");
    std::string_view host = text.substr(0, colon);
    const std::string_view port_text = text.substr(colon + 1);
    unsigned port = 0;
    const auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (port_text.empty() || error != std::errc{} || end != port_text.data() + port_text.size() || port > 65535)
        bad(text, "the port must be a number from 0 to 65535");
    ListenAddress address;
    address.port = static_cast<std::uint16_t>(port);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        address.host = std::string(host.substr(1, host.size() - 2));
        in6_addr v6{};
        if (::inet_pton(AF_INET6, address.host.c_str(), &v6) != 1) bad(text, "not an IPv6 address in the brackets");
        return address;
    }
    address.host = std::string(host);
    if (address.host == "localhost") return address;
    in_addr v4{};
    if (::inet_pton(AF_INET, address.host.c_str(), &v4) != 1)
        bad(text, "the host must be an IPv4 address, an IPv6 address in brackets, or localhost");
    return address;
}

bool ListenAddress::loopback() const noexcept {
    if (host == "localhost" || host == "::1") return true;
    in_addr v4{};
    if (::inet_pton(AF_INET, host.c_str(), &v4) != 1) return false;
    return (ntohl(v4.s_addr) >> 24) == 127;
}

std::string ListenAddress::to_string() const {
    const bool v6 = host.find(':') != std::string::npos;
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace failpipe
