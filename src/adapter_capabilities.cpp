#include "failpipe/adapter_capabilities.hpp"

namespace failpipe {

std::string AdapterCapabilities::to_string() const {
    std::string out;
    for (std::size_t i = 0; i < kCapabilityCount; ++i) {
        const auto capability = static_cast<Capability>(i);
        if (!has(capability)) continue;
        if (!out.empty()) out += ", ";
        out += failpipe::to_string(capability);
    }
    return out;
}

UnsupportedCapabilityError::UnsupportedCapabilityError(Capability capability, std::string_view who)
    : AdapterError(std::string(who) + " needs the adapter capability \"" + std::string(failpipe::to_string(capability)) +
                   "\", which this adapter does not declare (see docs/adapters.md)"),
      capability_(capability) {}

void require_capabilities(const AdapterCapabilities& declared, std::initializer_list<Capability> needed,
                          std::string_view who) {
    for (const Capability capability : needed)
        if (!declared.has(capability)) throw UnsupportedCapabilityError(capability, who);
}

}  // namespace failpipe
