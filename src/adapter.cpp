#include "failpipe/adapter.hpp"

#include "failpipe/error.hpp"

namespace failpipe {

std::vector<std::exception_ptr> AdapterInterface::settle_batch(std::vector<SettleItem> items) {
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

ChannelDepth AdapterInterface::depth_with_dead_letters(const std::string& channel, const std::string& dead_letter_suffix) {
    if (dead_letter_suffix.empty()) throw InvalidArgumentError("depth_with_dead_letters: the dead-letter suffix is empty");
    ChannelDepth result = depth(channel);
    const ChannelDepth dead = depth(channel + dead_letter_suffix);
    result.dead = dead.ready + dead.delayed;
    return result;
}

}  // namespace failpipe
