#include "config_dashboard.hpp"

#include "config_listen.hpp"

#include <string_view>

namespace failpipe::detail {

const std::vector<std::string>& dashboard_keys() {
    static const std::vector<std::string> keys{"listen", "readOnly", "tokenFile", "allowNonLoopback", "allowedHosts"};
    return keys;
}

namespace {

// A Host value as a browser sends it: a name or an address, with an optional port; nothing that
// could hide a second name (no spaces, commas, slashes, userinfo or wildcards).
bool looks_like_host(const std::string& host) {
    if (host.empty() || host.size() > 260) return false;
    for (unsigned char c : host)
        if (c <= 0x20 || c >= 0x7f || std::string_view("/\\@*?#,").find(static_cast<char>(c)) != std::string_view::npos)
            return false;
    return true;
}

std::vector<std::string> read_allowed_hosts(ConfigObjectReader& section) {
    std::vector<std::string> hosts;
    const auto& json = section.json();
    const auto found = json.find("allowedHosts");
    if (found == json.end() || found->is_null()) return hosts;
    if (!found->is_array()) {
        section.fail("allowedHosts", "expected an array of host names (\"dash.example.com\" or \"dash.example.com:443\")");
        return hosts;
    }
    for (std::size_t i = 0; i < found->size(); ++i) {
        const auto& item = (*found)[i];
        if (!item.is_string() || !looks_like_host(item.get<std::string>())) {
            section.fail("allowedHosts",
                         "item " + std::to_string(i) + ": expected a host name (name or name:port, no spaces, commas, slashes or wildcards), found " +
                             item.dump().substr(0, 120));
            continue;
        }
        hosts.push_back(item.get<std::string>());
    }
    return hosts;
}

}  // namespace

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
    dashboard.allowed_hosts = read_allowed_hosts(section);
    if (auto address = read_listen(section, dashboard.allow_non_loopback, "the dashboard")) dashboard.listen = address;
}

}  // namespace failpipe::detail
