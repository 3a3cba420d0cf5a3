#include "correlation.hpp"

#include <random>

#include <fmt/format.h>

#include "failpipe/metadata_keys.hpp"

namespace failpipe::detail {

std::string_view stored_correlation_id(const Message& message) noexcept {
    if (!message.metadata.is_object()) return {};
    const auto& object = message.metadata.get_ref<const nlohmann::json::object_t&>();
    const auto it = object.find(metadata_keys::correlation_id);
    if (it == object.end() || !it->second.is_string()) return {};
    return it->second.get_ref<const std::string&>();
}

std::string_view correlation_id_of(const Message& message) noexcept {
    const std::string_view stored = stored_correlation_id(message);
    return stored.empty() ? std::string_view(message.id) : stored;
}

std::string new_correlation_id() {
    // Not a secret, only unique: a per-thread generator seeded once is enough and costs no lock.
    thread_local std::mt19937_64 generator{[] {
        std::random_device device;
        return (static_cast<std::uint64_t>(device()) << 32) ^ device();
    }()};
    return fmt::format("{:016x}{:016x}", generator(), generator());
}

void give_correlation_id(Message& message, std::string_view id) {
    if (id.empty() || !message.metadata.is_object() || !stored_correlation_id(message).empty()) return;
    message.metadata[std::string(metadata_keys::correlation_id)] = std::string(id);
}

std::string about_message(std::string_view id, std::string_view channel, std::string_view correlation) {
    return fmt::format("message {} [channel={} correlation={}]", id, channel, correlation.empty() ? id : correlation);
}

}  // namespace failpipe::detail
