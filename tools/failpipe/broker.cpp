#include "broker.hpp"

#include <cstdlib>

#include "command.hpp"
#include "format.hpp"

namespace failpipe::cli {

std::vector<OptionSpec> broker_options() {
    return {
        {"redis", "URL",
         "the broker (default $FAILPIPE_REDIS_URL, else " + std::string(kDefaultRedisUrl) +
             "): redis://[user:password@]host[:port][/db]; a Redis Cluster: any node, or a comma-separated seed list "
             "redis://[user:password@]host1:port1,host2:port2[/db]; query options (after ?, joined by &): "
             "durability=master|replicas, replicas=N and waitMs=T (with replicas: a write is done once N replicas "
             "confirmed it within T ms; default 1 and 1000), keyLayout=prefix|groups"},
        {"prefix", "P", "the key prefix the workers use (default " + RedisAdapter::Options{}.key_prefix + ")"},
        {"config", "FILE",
         "the workers' config: its deadLetterSuffix names the dead-letter channels (default :dlq), push and inject "
         "refuse a message over its maxMessageBytes; with "
         "\"keyLayout\": \"groups\" there (or ?keyLayout=groups in the URL), keys are read and written under each "
         "shard group's {prefix:group}, as the workers do"},
    };
}

std::optional<Config> broker_config(const ParsedArgs& args) {
    const auto file = args.value("config");
    if (!file) return std::nullopt;
    require_file(*file);
    try {
        return load_config_file(*file);
    } catch (const ConfigError& e) {
        std::string problems;
        for (const auto& issue : e.issues()) {
            // The file name and the pointer cut as in every message (a key may be 100,000 bytes long).
            problems += "\n  " + shorten(*file) + ": " + (issue.path.empty() ? std::string("/") : shorten(issue.path)) + ": " +
                        issue.message;
        }
        throw UsageError("--config " + quote(*file) + " is not a valid config; nothing was read or written:" + problems);
    }
}

RedisAdapter::Options redis_options(const ParsedArgs& args, const Config* config) {
    RedisAdapter::Options options;
    std::string source = "--redis";
    if (auto url = args.value("redis")) {
        options.url = *url;
    } else if (const char* env = std::getenv("FAILPIPE_REDIS_URL"); env != nullptr && *env != '\0') {
        options.url = env;
        source = "FAILPIPE_REDIS_URL";
    } else {
        options.url = std::string(kDefaultRedisUrl);
    }
    if (auto prefix = args.value("prefix")) {
        require_prefix(*prefix);
        options.key_prefix = *prefix;
    }
    // A single answer is enough for a tool; a dead server should fail fast, not after 16 connections.
    options.pool_size = 2;
    // With the layout "groups": the workers relay follow-ups between groups, not a short-lived command.
    options.outbox_relay = false;
    try {
        if (config == nullptr && RedisAdapter::url_key_layout(options.url) == KeyLayout::groups) {
            throw UsageError(source + " asks for keyLayout=groups (each shard group's keys under {" + options.key_prefix +
                             ":<group>}), but which channels form which group comes from the workers' config: add "
                             "--config FILE; nothing was read or written");
        }
        if (config != nullptr) return RedisAdapter::with_config(std::move(options), *config);
        return RedisAdapter::with_key_layout(std::move(options), std::nullopt, nullptr);
    } catch (const InvalidArgumentError& e) {
        throw UsageError(e.what());  // the adapter's message shows the URL with its password as ***
    }
}

RedisAdapter::Options redis_options(const ParsedArgs& args) {
    const std::optional<Config> config = broker_config(args);
    return redis_options(args, config ? &*config : nullptr);
}

std::unique_ptr<RedisAdapter> make_broker(const RedisAdapter::Options& options) {
    try {
        return std::make_unique<RedisAdapter>(options);
    } catch (const InvalidArgumentError& e) {
        // The adapter's message shows the URL with its password as ***.
        throw UsageError(e.what());
    }
}

namespace {

std::unique_ptr<RedisAdapter> connect_with_config(const ParsedArgs& args, const Config* config) {
    std::unique_ptr<RedisAdapter> adapter = make_broker(redis_options(args, config));
    try {
        adapter->ping();
    } catch (const ConnectionError& e) {
        throw BrokerUnreachable("cannot reach the broker at " + adapter->options().url + ": " + e.what());
    }
    return adapter;
}

}  // namespace

std::unique_ptr<RedisAdapter> connect_broker(const ParsedArgs& args) {
    const std::optional<Config> config = broker_config(args);
    return connect_with_config(args, config ? &*config : nullptr);
}

std::unique_ptr<RedisAdapter> connect_broker(const ParsedArgs& args, const Deployment& deployment) {
    return connect_with_config(args, deployment.config_or_null());
}

Deployment deployment_of(const ParsedArgs& args) {
    Deployment deployment;
    deployment.config = broker_config(args);
    if (!deployment.config) return deployment;
    deployment.suffixes.dead_letter = deployment.config->dispatcher.dead_letter_suffix;
    return deployment;
}

std::string_view to_string(ChannelKind kind) {
    switch (kind) {
        case ChannelKind::dead_letter: return "dead-letter";
        case ChannelKind::parked: return "parked";
        case ChannelKind::channel: break;
    }
    return "channel";
}

ChannelKind ChannelSuffixes::kind(std::string_view name) const {
    auto ends_in = [&](const std::string& suffix) { return name.size() > suffix.size() && name.ends_with(suffix); };
    const bool dead = ends_in(dead_letter);
    const bool park = ends_in(parked);
    if (dead && park) return dead_letter.size() > parked.size() ? ChannelKind::dead_letter : ChannelKind::parked;
    if (dead) return ChannelKind::dead_letter;
    if (park) return ChannelKind::parked;
    return ChannelKind::channel;
}

std::string ChannelSuffixes::base(std::string_view name) const {
    switch (kind(name)) {
        case ChannelKind::dead_letter: name.remove_suffix(dead_letter.size()); break;
        case ChannelKind::parked: name.remove_suffix(parked.size()); break;
        case ChannelKind::channel: break;
    }
    return std::string(name);
}

std::string ChannelSuffixes::dead_letters_of(std::string_view channel) const { return std::string(channel) + dead_letter; }

std::string unconfirmed_push(const RedisAdapter& broker, bool many) {
    const auto& o = broker.options();
    return "NOT confirmed by " + std::to_string(o.durability_replicas) + " replica(s) within " +
           format_number(o.durability_timeout.count() * 1000) + " ms (durability \"replicas\"), so a failover now could lose " +
           (many ? "them" : "it") + "; pushing again stores " + (many ? "second copies" : "a second copy") +
           ": check with \"failpipe stats\" instead";
}

}  // namespace failpipe::cli
