#include "failpipe/adapter.hpp"

#include "failpipe/error.hpp"

#include <charconv>

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

void BrokerAdapter::write_metrics(PrometheusWriter&) {}

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

BrowsePage InspectionAdapter::browse_after(const std::string& channel, const BrowseCursor& after, std::size_t limit) {
    if (limit == 0) throw InvalidArgumentError("browse_after: limit must be at least 1");
    // The offset cursor: "o:<messages before>".
    std::size_t offset = 0;
    if (!after.empty()) {
        const bool prefixed = after.size() > 2 && after.compare(0, 2, "o:") == 0;
        const char* last = after.data() + after.size();
        const auto [end, ec] = prefixed ? std::from_chars(after.data() + 2, last, offset)
                                        : std::from_chars_result{after.data(), std::errc::invalid_argument};
        if (ec != std::errc{} || end != last)
            throw InvalidArgumentError("browse_after: not a cursor of this adapter: " + after.substr(0, 64));
    }
    BrowsePage page;
    page.messages = browse(channel, offset, limit + 1);
    page.end = page.messages.size() <= limit;
    if (!page.end) page.messages.pop_back();
    page.next = page.messages.empty() ? after : "o:" + std::to_string(offset + page.messages.size());
    return page;
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

std::optional<std::string> InspectionAdapter::outbox_of_move(const std::string&, const std::string&) const { return std::nullopt; }

AdapterCapabilities AdapterInterface::capabilities() const { return AdapterCapabilities::all(); }

}  // namespace failpipe
