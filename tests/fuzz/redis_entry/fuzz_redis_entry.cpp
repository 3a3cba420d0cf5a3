// Fuzz target: a Redis stream entry as any producer may have written it (a plain XADD) becoming a
// Delivery (failpipe::detail::redis::delivery_from_entry, adapters/redis/src/entry.hpp). No server.
//
// The input is the entry's field list: name, value, name, value, ... separated by NUL bytes (an odd
// count gives the last name an empty value). Properties: the conversion never throws; the delivery
// has a non-empty message id and a delivery count of at least 1; a poisoned delivery says why and,
// when the entry has fields of its own producer, keeps every one of them: its raw bytes are a JSON
// array holding each field other than the adapter's bookkeeping (`n`, `o`), in order.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "../fuzz_support.hpp"
#include "bytes.hpp"
#include "entry.hpp"

namespace {

using failpipe::detail::redis::EntryField;

std::vector<EntryField> fields_of(std::string_view text) {
    std::vector<std::string_view> words;
    std::size_t start = 0;
    while (start < text.size()) {
        const std::size_t end = std::min(text.find('\0', start), text.size());
        words.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    std::vector<EntryField> fields;
    for (std::size_t i = 0; i < words.size(); i += 2)
        fields.emplace_back(words[i], i + 1 < words.size() ? words[i + 1] : std::string_view{});
    return fields;
}

// The adapter writes `i`, `b`, `n`, `o`, each once; anything else is another producer's entry.
bool adapter_fields_only(const std::vector<EntryField>& fields) {
    std::string seen;
    for (const auto& [name, value] : fields) {
        if (name.size() != 1 || std::string_view("ibno").find(name[0]) == std::string_view::npos) return false;
        if (seen.find(name[0]) != std::string::npos) return false;
        seen += name[0];
    }
    return true;
}

nlohmann::json kept(std::string_view bytes) {
    if (failpipe::detail::is_valid_utf8(bytes)) return std::string(bytes);
    return nlohmann::json{{"base64", failpipe::detail::base64_encode(bytes)}};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace failpipe;
    const std::vector<EntryField> fields = fields_of(fuzz::as_text(data, size));
    const Delivery delivery =
        detail::redis::delivery_from_entry("orders", "1767225600000-0", fields, 1767225600500LL);

    fuzz::check(!delivery.message.id.empty(), "a delivery has a message id");
    fuzz::check(delivery.deliveries >= 1, "a delivery counts itself");
    fuzz::check(delivery.channel == "orders", "a delivery names its channel");
    if (!delivery.poisoned()) return 0;

    if (adapter_fields_only(fields)) return 0;  // raw is the `b` bytes alone
    const auto raw = nlohmann::json::parse(delivery.raw, nullptr, /*allow_exceptions=*/false);
    fuzz::check(raw.is_array(), "a poisoned foreign entry keeps its fields as a JSON array", delivery.raw);
    std::size_t next = 0;
    for (const auto& [name, value] : fields) {
        if (name == "n" || name == "o") continue;
        fuzz::check(next < raw.size(), "a poisoned entry keeps every producer field", delivery.raw);
        fuzz::check(raw[next] == nlohmann::json::array({kept(name), kept(value)}),
                    "a poisoned entry keeps each field as written, in order", delivery.raw);
        ++next;
    }
    fuzz::check(next == raw.size(), "a poisoned entry adds no field", delivery.raw);
    return 0;
}
