#include "config_dashboard.hpp"

#include <optional>

#include "config_json.hpp"
#include "failpipe/error.hpp"

namespace failpipe::detail {
namespace {

std::optional<bool> optional_flag(ConfigObjectReader& reader, std::string_view key) {
    const nlohmann::json* value = find_value(reader.json(), key);
    if (value == nullptr || value->is_null()) return std::nullopt;
    if (value->is_boolean()) return value->get<bool>();
    reader.fail(key, "expected true or false, found " + describe(*value));
    return std::nullopt;
}

}  // namespace

const std::vector<std::string>& dashboard_keys() {
    static const std::vector<std::string> keys{"listen", "readOnly", "tokenFile", "allowNonLoopback"};
    return keys;
}

void load_dashboard(ConfigObjectReader& section, Config& config) {
    DashboardConfig& dashboard = config.dashboard;
    dashboard.allow_non_loopback = optional_flag(section, "allowNonLoopback").value_or(false);
    dashboard.read_only = optional_flag(section, "readOnly").value_or(false);
    if (auto file = section.optional_string("tokenFile")) {
        if (file->empty())
            section.fail("tokenFile", "expected the path of a file holding the token, found \"\"");
        else
            dashboard.token_file = *file;
    }
    auto listen = section.optional_string("listen");
    if (!listen) return;
    ListenAddress address;
    try {
        address = ListenAddress::parse(*listen);
    } catch (const InvalidArgumentError& e) {
        section.fail("listen", e.what());
        return;
    }
    if (address.port == 0) {
        section.fail("listen", "expected a port from 1 to 65535, found " + quote_json(*listen));
        return;
    }
    if (!address.loopback() && !dashboard.allow_non_loopback) {
        section.fail("listen", quote_json(*listen) + " is not a loopback address: set \"allowNonLoopback\": true to "
                                                     "serve the dashboard beyond this machine");
        return;
    }
    dashboard.listen = address;
}

}  // namespace failpipe::detail
