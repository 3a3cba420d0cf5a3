#include "correlation.hpp"

#include <algorithm>
#include <random>
#include <string>

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

namespace {

// The longest id, channel or correlation id a log line shows (then `…`).
constexpr std::size_t kLoggedBytes = 200;

// @p text as a log line may show it: ids and correlation ids come from any producer, so a control
// byte (a newline that would start a forged line, an escape sequence) is written as \n or \xNN,
// and a long value is cut.
std::string loggable(std::string_view text) {
    std::string out;
    out.reserve(std::min(text.size(), kLoggedBytes) + 8);
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (out.size() >= kLoggedBytes) {
            // Cutting inside a UTF-8 character: drop its first bytes too, so none is split.
            if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) {
                while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
                if (!out.empty() && (static_cast<unsigned char>(out.back()) & 0x80) != 0) out.pop_back();
            }
            out += "…(" + std::to_string(text.size()) + " bytes)";
            return out;
        }
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\x{:02x}", c);
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

}  // namespace

std::string about_message(std::string_view id, std::string_view channel, std::string_view correlation) {
    return fmt::format("message {} [channel={} correlation={}]", loggable(id), loggable(channel),
                       loggable(correlation.empty() ? id : correlation));
}

}  // namespace failpipe::detail
