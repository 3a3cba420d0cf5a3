// `failpipe dashboard`: serves the web dashboard (failpipe::dashboard) over the broker until
// SIGINT or SIGTERM.
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "broker.hpp"
#include "command.hpp"
#include "failpipe/config.hpp"
#include "failpipe/dashboard/dashboard_server.hpp"
#include "failpipe/dead_letters.hpp"
#include "failpipe/listen_address.hpp"
#include "failpipe/shutdown_signals.hpp"

namespace failpipe::cli {
namespace {

// The library's errors start with "dashboard: "; the tool's line already starts "failpipe dashboard: ".
std::string without_library_prefix(std::string_view what) {
    constexpr std::string_view prefix = "dashboard: ";
    if (what.starts_with(prefix)) what.remove_prefix(prefix.size());
    return std::string(what);
}

ListenAddress listen_of(const ParsedArgs& args) {
    const std::string text = args.value("listen").value_or("127.0.0.1:8080");
    ListenAddress address;
    try {
        address = ListenAddress::parse(text);
    } catch (const InvalidArgumentError& e) {
        throw UsageError("--listen " + quote(text) + ": " + e.what());
    }
    if (!address.loopback() && !args.has("allow-non-loopback"))
        throw UsageError("--listen " + quote(text) +
                         " is not a loopback address: other machines could reach the dashboard; add "
                         "--allow-non-loopback to serve it there anyway");
    return address;
}

// `--allow-host a,b:443`: the Host names the dashboard answers besides its address and loopback.
std::vector<std::string> allowed_hosts_of(const ParsedArgs& args) {
    std::vector<std::string> hosts;
    const auto text = args.value("allow-host");
    if (!text) return hosts;
    std::size_t begin = 0;
    while (begin <= text->size()) {
        const std::size_t comma = std::min(text->find(',', begin), text->size());
        hosts.push_back(text->substr(begin, comma - begin));
        begin = comma + 1;
    }
    try {
        dashboard::check_allowed_hosts(hosts);
    } catch (const InvalidArgumentError& e) {
        throw UsageError("--allow-host " + quote(*text) + ": " + without_library_prefix(e.what()));
    }
    return hosts;
}

int run_dashboard(const Invocation& inv) {
    const ParsedArgs& args = inv.args;
    dashboard::DashboardOptions options;
    options.listen = listen_of(args);
    options.allow_non_loopback = args.has("allow-non-loopback");
    options.allowed_hosts = allowed_hosts_of(args);
    options.read_only = args.has("read-only");
    if (auto file = args.value("token-file")) {
        require_file(*file);
        try {
            options.token = dashboard::read_token_file(*file);
        } catch (const dashboard::DashboardError& e) {
            throw UsageError(without_library_prefix(e.what()));
        }
    }
    // Refused as every broker command refuses it: a usage error listing the problems, nothing served.
    const std::optional<Config> config = broker_config(args);
    if (config) {
        options.pipelines = std::make_shared<const FailureMiddlewareDispatcher::Options>(config->dispatcher);
        options.known_channels = configured_channels(*config);  // the origins `dlq replay --config` trusts
        options.dead_letter_suffix = config->dispatcher.dead_letter_suffix;
        options.on_expired = config->worker.on_expired;
        options.breakers = config->breakers;  // their definitions, for explain (their state lives in the workers)
    }
    // Before any thread starts, so that every thread inherits the blocked SIGINT and SIGTERM.
    ShutdownSignals signals;
    // The config's key layout too: with "groups", the page reads each group's keys where the workers write them.
    std::shared_ptr<RedisAdapter> broker = make_broker(redis_options(args, config ? &*config : nullptr));
    try {
        broker->ping();
    } catch (const ConnectionError& e) {
        inv.err << "failpipe dashboard: warning: the broker does not answer now (" << e.what()
                << "); the page says so and recovers when it does\n";
    }
    const bool has_token_file = args.has("token-file");
    dashboard::DashboardServer server(broker, std::move(options));
    try {
        server.start();
    } catch (const dashboard::DashboardError& e) {
        throw Error(without_library_prefix(e.what()));  // a port in use: exit 1
    }
    if (!server.address().loopback())
        inv.err << "failpipe dashboard: warning: serving on " << server.address().to_string()
                << ", reachable from other machines; anyone who has the token can replay and purge\n";
    inv.out << "failpipe dashboard: serving " << server.url() << " (prefix " << broker->options().key_prefix
            << (broker->options().key_layout == KeyLayout::groups ? ", key layout groups" : "") << ")\n";
    if (args.has("read-only")) {
        inv.out << "read-only: replays and purges are refused\n";
    } else if (!has_token_file) {
        inv.out << "token: " << server.token() << '\n'
                << "open: " << server.url() << "#token=" << server.token() << '\n';
    } else {
        inv.out << "token: from " << *args.value("token-file") << '\n';
    }
    inv.out << "stop with Ctrl-C" << std::endl;
    signals.wait();
    server.stop();
    inv.out << "failpipe dashboard: stopped" << std::endl;
    return kExitOk;
}

}  // namespace

Command dashboard_command() {
    Command c;
    c.words = {"dashboard"};
    c.summary = "Serve the web dashboard: channels, dead letters by cause, replay and purge";
    c.description =
        "Serves a web page and its JSON API (docs/dashboard.md) until SIGINT or SIGTERM: every channel's\n"
        "depths, health, dead letters with the filters of \"dlq list\", their groups, one message in full, a\n"
        "channel's pipeline as a timeline (with --config), and replays and purges through the same library\n"
        "calls as \"dlq replay\" and \"dlq purge\". Replays and purges need the token printed at start (or\n"
        "the one in --token-file). Listens on loopback unless --allow-non-loopback.";
    c.options = {{"listen", "HOST:PORT", "where to listen (default 127.0.0.1:8080)"},
                 {"read-only", "", "refuse every replay and purge (and hide them in the page)"},
                 {"token-file", "FILE", "read the token from the first line of FILE instead of making one"},
                 {"allow-non-loopback", "", "allow --listen to name an address other machines can reach"},
                 {"allow-host", "NAME[,NAME]", "Host names to answer besides --listen and loopback (name or "
                                               "name:port; needed behind a DNS name or on 0.0.0.0)"}};
    for (auto& o : broker_options()) {
        if (o.name == "config")
            o.help = "the deployment's config: pipelines for explain, dead-letter suffix, and its key layout "
                     "(\"keyLayout\": \"groups\": each shard group's keys under {prefix:group})";
        c.options.push_back(std::move(o));
    }
    c.examples = {"failpipe dashboard --redis redis://127.0.0.1:6379 --config config/payments.json",
                  "failpipe dashboard --listen 127.0.0.1:9000 --read-only"};
    c.run = run_dashboard;
    return c;
}

}  // namespace failpipe::cli
