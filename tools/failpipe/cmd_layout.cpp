// `failpipe layout migrate`: moves a deployment from the key layout "prefix" to "groups"
// (failpipe::RedisLayoutMigration does the work; docs/shard-groups.md).
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "broker.hpp"
#include "command.hpp"
#include "failpipe/redis/layout_migration.hpp"
#include "format.hpp"
#include "progress.hpp"

namespace failpipe::cli {
namespace {

using Migration = RedisLayoutMigration;

Migration::Options migration_options(const ParsedArgs& args, const Config& config) {
    // --redis, FAILPIPE_REDIS_URL and --prefix exactly as every broker command reads them. The
    // layout is this command's own business (from prefix to groups): the config's keyLayout is not
    // asked, and the URL may name the target layout but not the source.
    Config any_layout = config;
    any_layout.key_layout.reset();
    const RedisAdapter::Options broker = redis_options(args, &any_layout);
    if (RedisAdapter::url_key_layout(broker.url) == KeyLayout::prefix) {
        throw UsageError("the Redis URL says keyLayout=prefix, but this command moves the keys to the layout \"groups\": "
                         "give the URL without keyLayout (or with keyLayout=groups); nothing was changed");
    }
    Migration::Options options;
    options.url = broker.url;
    options.key_prefix = broker.key_prefix;
    options.connect_timeout = broker.connect_timeout;
    options.command_timeout = broker.command_timeout;
    options.groups = config.shard_groups;
    options.visibility_timeout = config.visibility_timeout;
    options.batch = static_cast<std::size_t>(args.integer("batch", 1, 10000, 256));
    return options;
}

std::string tag_of(const Migration::Options& options) { return "{" + options.key_prefix + "}"; }

void print_plan(std::ostream& out, const Migration::Plan& plan, const Migration::Options& options) {
    out << "dry run: nothing was changed\n"
        << "would move from " << tag_of(options) << " to the shard groups' keys:\n";
    print_table(out, {"channel", "group", "hash tag", "ready", "delayed", "expired", "reserved", "evicted"},
                plan.channels.size(),
                [&](std::size_t i) -> std::vector<std::string> {
                    const auto& c = plan.channels[i];
                    return {shorten(c.channel), shorten(c.group), shorten(c.tag), std::to_string(c.ready),
                            std::to_string(c.delayed), std::to_string(c.expired), std::to_string(c.held),
                            std::to_string(c.evicted)};
                },
                {3, 4, 5, 6, 7});
    std::map<std::string, std::pair<std::size_t, std::size_t>> groups;  // channels, messages
    for (const auto& c : plan.channels) {
        auto& [channels, messages] = groups[c.group];
        ++channels;
        messages += c.messages();
    }
    for (const auto& [group, figures] : groups) {
        out << "group " << shorten(group) << ": " << figures.second << " message(s) of " << figures.first << " channel(s)\n";
    }
    out << "would move " << plan.messages() << " message(s) of " << plan.channels.size() << " channel(s) to "
        << groups.size() << " group(s)\n";
    if (plan.held_count() > 0) {
        out << "would refuse: " << plan.held_count()
            << " message(s) are reserved by workers now (stop the workers of the prefix layout first)\n";
        for (const auto& h : plan.held) out << "  " << shorten(h.channel) << ": message " << shorten(h.id) << '\n';
    }
    for (const auto* c : plan.conflicts()) {
        out << "would refuse: \"" << shorten(c->channel) << "\" was moved to group \"" << shorten(c->recorded_group)
            << "\" by an earlier run, this config puts it in \"" << shorten(c->group) << "\"\n";
    }
}

void print_results(std::ostream& out, const std::vector<Migration::ChannelResult>& results, const Migration::Options& options) {
    print_table(out, {"channel", "group", "found", "moved", "already-there", "evicted"}, results.size(),
                [&](std::size_t i) -> std::vector<std::string> {
                    const auto& r = results[i];
                    return {shorten(r.channel), shorten(r.group), std::to_string(r.found), std::to_string(r.moved),
                            std::to_string(r.already_there), std::to_string(r.evicted)};
                },
                {2, 3, 4, 5});
    std::size_t found = 0, moved = 0, already = 0, removed = 0;
    for (const auto& r : results) {
        found += r.found;
        moved += r.moved;
        already += r.already_there;
        removed += r.removed ? 1 : 0;
    }
    out << "total: found " << found << " = moved " << moved << " + already there " << already << '\n'
        << "removed the keys of " << removed << " of " << results.size() << " channel(s) under " << tag_of(options) << '\n'
        << "next: run the workers, the dashboard and every script with \"keyLayout\": \"groups\" and this config\n";
}

// No channel under {prefix}: done before, already grouped, or the wrong prefix.
int nothing_to_move(const Invocation& inv, const Migration::Plan& plan, const Migration::Options& options) {
    const std::string where = tag_of(options);
    if (plan.migrated_before) {
        inv.out << "nothing left to move under " << where << ": an earlier run moved every channel to the shard groups' keys ("
                << plan.grouped_channels << " channel(s) there now)\n";
        return kExitOk;
    }
    if (plan.grouped_channels > 0) {
        inv.err << "failpipe layout migrate: no channel under " << where << ", and " << plan.grouped_channels
                << " under the shard groups' keys {" << options.key_prefix
                << ":<group>}: this deployment already uses the layout \"groups\"; nothing was changed\n";
        return kExitFailed;
    }
    inv.err << "failpipe layout migrate: no channel under " << where << " nor under the shard groups' keys {"
            << options.key_prefix << ":<group>}: is --prefix right (the workers' key prefix)? nothing was changed\n";
    return kExitFailed;
}

int run_migrate(const Invocation& inv) {
    const auto config = broker_config(inv.args);
    const Migration::Options options = migration_options(inv.args, *config);
    std::unique_ptr<Migration> migration;
    try {
        migration = std::make_unique<Migration>(options);
    } catch (const InvalidArgumentError& e) {
        throw UsageError(e.what());
    }
    try {
        const Migration::Plan plan = migration->plan();
        if (plan.channels.empty()) return nothing_to_move(inv, plan, options);
        if (inv.args.has("dry-run")) {
            print_plan(inv.out, plan, options);
            return kExitOk;
        }
        ProgressLine progress{inv, "moved"};
        const auto results = migration->run(std::ref(progress));
        progress.end_line();
        print_results(inv.out, results, options);
        return kExitOk;
    } catch (const ConnectionError& e) {
        throw BrokerUnreachable(std::string(e.what()) + "; run the command again to finish (nothing is lost or duplicated)");
    }
}

}  // namespace

Command layout_migrate_command() {
    Command c;
    c.words = {"layout", "migrate"};
    c.summary = "Move every message from the key layout \"prefix\" to \"groups\" (no draining)";
    c.description =
        "Moves every message of every channel under {prefix} to the keys of its shard group\n"
        "({prefix:group}, groups from the workers' config): ready and delayed messages (due times kept),\n"
        "dead letters, every stream field and delivery count, and the eviction counters. Stop every\n"
        "worker and producer of the prefix layout first: reservations older than the visibility\n"
        "timeout move as given back; younger ones make it refuse, listing them, before anything\n"
        "changes. Interrupted at any point, run it again: nothing is lost or duplicated. Then start the\n"
        "workers with \"keyLayout\": \"groups\". See docs/shard-groups.md.";
    c.options = {{"dry-run", "", "print what would move, per channel and group, and change nothing"},
                 {"batch", "N", "messages per batch (1..10000, default 256)"}};
    for (auto& o : broker_options()) c.options.push_back(std::move(o));
    for (auto& o : c.options) {
        if (o.name == "config") {
            o.required = true;
            o.help = "the workers' config: its shard groups say where each channel goes";
        }
    }
    c.examples = {"failpipe layout migrate --config workers.json --dry-run",
                  "failpipe layout migrate --redis redis://10.0.0.7:7000 --config workers.json --prefix shop"};
    c.run = run_migrate;
    return c;
}

}  // namespace failpipe::cli
