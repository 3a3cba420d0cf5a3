#include "config_dashboard.hpp"

#include "config_listen.hpp"

namespace failpipe::detail {

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
    if (auto address = read_listen(section, dashboard.allow_non_loopback, "the dashboard")) dashboard.listen = address;
}

}  // namespace failpipe::detail
