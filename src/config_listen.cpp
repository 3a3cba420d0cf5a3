#include "config_listen.hpp"

#include <string>

#include "config_json.hpp"
#include "failpipe/error.hpp"

namespace failpipe::detail {

std::optional<bool> optional_flag(ConfigObjectReader& reader, std::string_view key) {
    const nlohmann::json* value = find_value(reader.json(), key);
    if (value == nullptr) return std::nullopt;
    if (value->is_boolean()) return value->get<bool>();
    reader.fail(key, "expected true or false, found " + describe(*value));
    return std::nullopt;
}

std::optional<ListenAddress> read_listen(ConfigObjectReader& section, bool allow_non_loopback, std::string_view serve) {
    auto listen = section.optional_string("listen");
    if (!listen) return std::nullopt;
    ListenAddress address;
    try {
        address = ListenAddress::parse(*listen);
    } catch (const InvalidArgumentError& e) {
        section.fail("listen", e.what());
        return std::nullopt;
    }
    if (address.port == 0) {
        section.fail("listen", "expected a port from 1 to 65535, found " + quote_json(*listen));
        return std::nullopt;
    }
    if (!address.loopback() && !allow_non_loopback) {
        section.fail("listen", quote_json(*listen) + " is not a loopback address: set \"allowNonLoopback\": true to " +
                                   "serve " + std::string(serve) + " beyond this machine");
        return std::nullopt;
    }
    return address;
}

}  // namespace failpipe::detail
