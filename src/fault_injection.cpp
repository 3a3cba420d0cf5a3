#include "failpipe/fault_injection.hpp"

#include <cmath>
#include <cstdlib>
#include <thread>

namespace failpipe {

std::string_view to_string(InjectedFault fault) noexcept {
    switch (fault) {
        case InjectedFault::transient: return "transient";
        case InjectedFault::permanent: return "permanent";
        case InjectedFault::poison: return "poison";
        case InjectedFault::slow: return "slow";
        case InjectedFault::crash: return "crash";
    }
    return "transient";
}

std::optional<InjectedFault> parse_injected_fault(std::string_view name) noexcept {
    for (auto fault : {InjectedFault::transient, InjectedFault::permanent, InjectedFault::poison, InjectedFault::slow,
                       InjectedFault::crash}) {
        if (to_string(fault) == name) return fault;
    }
    return std::nullopt;
}

namespace {

[[noreturn]] void malformed(const std::string& why) {
    throw InjectedPermanentError("malformed " + std::string(kInjectMetadataKey) + " header: " + why);
}

}  // namespace

std::optional<InjectedFaultSpec> injected_fault(const Message& message) {
    if (!message.metadata.is_object()) return std::nullopt;
    const auto found = message.metadata.find(kInjectMetadataKey);
    if (found == message.metadata.end()) return std::nullopt;
    const auto& header = *found;
    if (!header.is_object()) malformed("expected an object, found " + std::string(header.type_name()));
    const auto kind = header.find("kind");
    if (kind == header.end() || !kind->is_string()) malformed("\"kind\" must be a string");
    auto fault = parse_injected_fault(kind->get_ref<const std::string&>());
    if (!fault || *fault == InjectedFault::poison) {
        malformed("unknown kind \"" + kind->get<std::string>() + "\" (transient, permanent, slow, crash)");
    }
    InjectedFaultSpec spec{*fault};
    if (const auto seconds = header.find("seconds"); seconds != header.end()) {
        if (!seconds->is_number() || !std::isfinite(seconds->get<double>()) || seconds->get<double>() < 0 ||
            seconds->get<double>() > 3600) {
            malformed("\"seconds\" must be a number from 0 to 3600");
        }
        spec.seconds = Seconds{seconds->get<double>()};
    }
    return spec;
}

nlohmann::json injected_fault_header(const InjectedFaultSpec& spec) {
    nlohmann::json header{{"kind", to_string(spec.kind)}};
    if (spec.kind == InjectedFault::slow) header["seconds"] = spec.seconds.count();
    return header;
}

void apply_injected_fault(const Message& message, const std::function<void()>& on_crash) {
    const auto spec = injected_fault(message);
    if (!spec) return;
    switch (spec->kind) {
        case InjectedFault::transient:
            throw InjectedTransientError("injected transient failure (" + std::string(kInjectMetadataKey) + ")");
        case InjectedFault::permanent:
            throw InjectedPermanentError("injected permanent failure (" + std::string(kInjectMetadataKey) + ")");
        case InjectedFault::slow:
            std::this_thread::sleep_for(std::chrono::duration_cast<std::chrono::nanoseconds>(spec->seconds));
            return;
        case InjectedFault::crash:
            if (on_crash) {
                on_crash();
                return;
            }
            std::abort();
        case InjectedFault::poison:
            return;  // refused by injected_fault(): poison is bytes, never a header
    }
}

}  // namespace failpipe
