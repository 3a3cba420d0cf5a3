#include "failpipe/adapter.hpp"

#include "failpipe/error.hpp"

namespace failpipe {

std::vector<std::exception_ptr> BrokerAdapter::settle_batch(std::vector<SettleItem> items) {
    std::vector<std::exception_ptr> results(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (items[i].delivery == nullptr || items[i].settlement == nullptr) {
            throw InvalidArgumentError("settle_batch: null delivery or settlement");
        }
        try {
            settle(*items[i].delivery, std::move(*items[i].settlement));
        } catch (const ConnectionError&) {
            throw;  // the caller sends the batch again; settles already applied are then refused as stale
        } catch (...) {
            results[i] = std::current_exception();
        }
    }
    return results;
}

ChannelDepth InspectionAdapter::depth_with_dead_letters(const std::string& channel, const std::string& dead_letter_suffix) {
    if (dead_letter_suffix.empty()) throw InvalidArgumentError("depth_with_dead_letters: the dead-letter suffix is empty");
    ChannelDepth result = depth(channel);
    const ChannelDepth dead = depth(channel + dead_letter_suffix);
    result.dead = dead.ready + dead.delayed;
    return result;
}

MessageStatus InspectionAdapter::status(const std::string&) {
    throw UnsupportedCapabilityError(Capability::status, "InspectionAdapter::status");
}

ChannelDepth InspectionAdapter::depth(const std::string&) {
    throw UnsupportedCapabilityError(Capability::depth, "InspectionAdapter::depth");
}

std::vector<Message> InspectionAdapter::browse(const std::string&, std::size_t, std::size_t) {
    throw UnsupportedCapabilityError(Capability::browse, "InspectionAdapter::browse");
}

std::size_t InspectionAdapter::remove(const std::string&, const std::vector<std::string>&) {
    throw UnsupportedCapabilityError(Capability::remove, "InspectionAdapter::remove");
}

std::size_t InspectionAdapter::evict(const std::string&, const std::vector<std::string>&) {
    throw UnsupportedCapabilityError(Capability::evict, "InspectionAdapter::evict");
}

std::uint64_t InspectionAdapter::evicted(const std::string&) {
    throw UnsupportedCapabilityError(Capability::evict, "InspectionAdapter::evicted");
}

MoveResult InspectionAdapter::move(const std::string&, const std::string&, const std::vector<std::string>&,
                                   const MessageRewrite&, Seconds) {
    throw UnsupportedCapabilityError(Capability::move, "InspectionAdapter::move");
}

std::vector<std::string> InspectionAdapter::channels() {
    throw UnsupportedCapabilityError(Capability::channels, "InspectionAdapter::channels");
}

AdapterCapabilities AdapterInterface::capabilities() const { return AdapterCapabilities::all(); }

}  // namespace failpipe
