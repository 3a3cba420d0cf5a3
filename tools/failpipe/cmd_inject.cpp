// `failpipe inject`: pushes test messages that a handler using apply_injected_fault() (the payments
// job's does) fails in a chosen way, to try a pipeline against a live system.
#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

#include "broker.hpp"
#include "command.hpp"
#include "duration.hpp"
#include "failpipe/fault_injection.hpp"
#include "failpipe/message.hpp"

namespace failpipe::cli {
namespace {

constexpr long long kMaxCount = 100000;  // docs/cli.md
constexpr std::size_t kChunk = 1000;
constexpr std::size_t kIdsShown = 10;
constexpr double kMaxSlowSeconds = 3600;  // as injected_fault() reads it

const std::vector<std::string> kKinds{"transient", "permanent", "poison", "slow", "crash"};

// Bytes that are no message (an object cut short), naming the injection so a dead letter shows
// where it came from.
std::string poison_bytes(long long n) {
    return R"({"handler": "failpipe.inject", "data": {"failpipe-inject": "poison", "n": )" + std::to_string(n) +
           R"(, "cut": "here)";
}

// Message @p n of an injection: only its number differs from the others.
Message injected_message(const std::string& type, const std::string& kind_name, const nlohmann::json& header, long long n) {
    Message message = Message::create(type, {{"injected", kind_name}, {"n", n}});
    message.metadata[std::string(kInjectMetadataKey)] = header;
    return message;
}

// Refuses an injection whose largest message (the last: the most digits; the adapter gives each an
// id of one length) is over the config's maxMessageBytes (the core's oversize_reason), before
// anything is pushed.
void check_fits(const std::string& type, const std::string& kind_name, const InjectedFaultSpec& spec, long long count,
                std::size_t limit) {
    if (limit == 0) return;
    const bool poison = spec.kind == InjectedFault::poison;
    Message largest = injected_message(type, kind_name, injected_fault_header(spec), count);
    largest.id = generate_message_id();
    const std::size_t bytes = poison ? poison_bytes(count).size() : encode_message(largest).size();
    if (const std::string reason = oversize_reason(bytes, limit); !reason.empty())
        throw UsageError(std::string(poison ? "poison message " : "message ") + std::to_string(count) + " of " +
                         std::to_string(count) + " is " + reason + " (its encoded size; the limit of --config; nothing pushed)");
}

void print_ids(std::ostream& out, const std::vector<std::string>& ids) {
    for (std::size_t i = 0; i < ids.size() && i < kIdsShown; ++i) out << ids[i] << '\n';
    if (ids.size() > kIdsShown) out << "… and " << ids.size() - kIdsShown << " more\n";
}

// Pushes the @p count messages, appending each stored id to @p ids as its push returns.
void inject_all(RedisAdapter& broker, const std::string& channel, InjectedFault kind, const std::string& kind_name,
                const std::string& type, const InjectedFaultSpec& spec, long long count, std::vector<std::string>& ids) {
    if (kind == InjectedFault::poison) {
        for (long long n = 1; n <= count; ++n) ids.push_back(broker.push_raw(channel, poison_bytes(n)));
        return;
    }
    const nlohmann::json header = injected_fault_header(spec);
    std::vector<OutgoingMessage> chunk;
    auto flush = [&] {
        for (auto& id : broker.push_batch(std::move(chunk))) ids.push_back(std::move(id));
        chunk.clear();
    };
    for (long long n = 1; n <= count; ++n) {
        chunk.push_back({channel, injected_message(type, kind_name, header, n)});
        if (chunk.size() == kChunk) flush();
    }
    flush();
}

int run_inject(const Invocation& inv) {
    const ParsedArgs& args = inv.args;
    const std::string channel = *args.value("channel");
    if (channel.empty()) throw UsageError("--channel expects a channel name, found \"\"");
    const long long count = args.integer("count", 1, kMaxCount, 1);
    const std::string kind_name = args.choice("kind", kKinds, "");
    const InjectedFault kind = *parse_injected_fault(kind_name);
    const std::string type = args.value("type").value_or("payment.charge");
    if (type.empty()) throw UsageError("--type expects a message type, found \"\"");
    InjectedFaultSpec spec{kind};
    if (auto seconds = args.value("seconds")) {
        if (kind != InjectedFault::slow) throw UsageError("--seconds is for --kind slow only");
        const double value = parse_duration(*seconds, "--seconds");
        if (value > kMaxSlowSeconds) throw UsageError("--seconds expects at most 1h, found " + quote(*seconds));
        spec.seconds = Seconds{value};
    }
    const Deployment deployment = deployment_of(args);
    check_fits(type, kind_name, spec, count, deployment.max_message_bytes());
    auto broker = connect_broker(args, deployment);

    std::vector<std::string> ids;
    try {
        inject_all(*broker, channel, kind, kind_name, type, spec, count, ids);
    } catch (const DurabilityError& e) {
        // Stored on the master, not confirmed by the replicas: say how many, so none is injected twice.
        const std::size_t stored = ids.size() + std::max<std::size_t>(e.stored_ids().size(), 1);
        ids.insert(ids.end(), e.stored_ids().begin(), e.stored_ids().end());
        print_ids(inv.out, ids);
        inv.err << "failpipe inject: " << stored << " of " << count << " messages ARE stored in " << shorten(channel)
                << " but " << unconfirmed_push(*broker, stored > 1) << '\n';
        return kExitUnconfirmed;
    }
    inv.out << "injected " << count << " " << kind_name << (count == 1 ? " message" : " messages") << " into "
            << shorten(channel);
    if (kind == InjectedFault::poison) {
        inv.out << " (bytes that are not a message)\n";
    } else {
        inv.out << " (type " << shorten(type) << ", metadata " << kInjectMetadataKey << ": "
                << injected_fault_header(spec).dump() << ")\n";
    }
    print_ids(inv.out, ids);
    return kExitOk;
}

}  // namespace

Command inject_command() {
    Command c;
    c.words = {"inject"};
    c.summary = "Push test messages that fail in a chosen way (transient, permanent, poison, slow, crash)";
    c.description =
        "Pushes N messages to channel C carrying the test header (metadata failpipe-inject:\n"
        "{\"kind\": K}), which a handler calling failpipe::apply_injected_fault() honours: transient and\n"
        "permanent throw an error of that class, slow sleeps --seconds (default 2s) and then succeeds,\n"
        "crash kills the worker process (the payments job: the worker thread drops the delivery), so it\n"
        "comes back after the visibility timeout until maxDeliveries dead-letters it. poison pushes bytes\n"
        "that are not a message: the worker dead-letters them without running a handler. Prints how\n"
        "many it pushed and their ids (the first 10). See docs/cli.md.";
    c.options = {{"channel", "C", "the channel to push to", true},
                 {"kind", "K", "transient, permanent, poison, slow or crash", true},
                 {"count", "N", "how many (1 to 100000; default 1)"},
                 {"type", "T", "the message type, i.e. the handler (default payment.charge, the payments job's)"},
                 {"seconds", "S", "how long a slow message's handler sleeps (default 2s; at most 1h)"}};
    for (auto& o : broker_options()) c.options.push_back(std::move(o));
    c.examples = {"failpipe inject --channel payments --count 20 --kind transient --prefix failpipe-payments-3f2a9c",
                  "failpipe inject --channel orders --type order.place --kind slow --seconds 30",
                  "failpipe inject --channel orders --kind poison"};
    c.run = run_inject;
    return c;
}

}  // namespace failpipe::cli
