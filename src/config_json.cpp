// How a config document's values and places are put into words, and nearest_word.
#include "config_json.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <optional>

#include "failpipe/config_reader.hpp"

namespace failpipe {
namespace detail {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxShownString = 60;

}  // namespace

// A string as a JSON literal. Invalid UTF-8 (possible in a document built in code) is shown
// replaced rather than thrown at the very moment a problem is being reported.
std::string quote_json(std::string_view s) {
    return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

// Containers by kind, since a whole pipeline pasted into a one-line message helps nobody.
std::string describe(const json& value) {
    switch (value.type()) {
        case json::value_t::array:
            return value.empty() ? "[]" : "an array";
        case json::value_t::object:
            return value.empty() ? "{}" : "an object";
        case json::value_t::string: {
            const auto& s = value.get_ref<const std::string&>();
            if (s.size() <= kMaxShownString) return quote_json(s);
            // Cut before a UTF-8 continuation byte, never inside a character.
            std::size_t cut = kMaxShownString;
            while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
            return quote_json(std::string_view(s).substr(0, cut)) + " (truncated)";
        }
        case json::value_t::discarded:
            return "nothing";
        default:
            return value.dump();
    }
}

// `"a", "b" or "c"`: the choices of an enumerated value.
std::string one_of(const std::vector<std::string>& choices) {
    std::string out;
    for (std::size_t i = 0; i < choices.size(); ++i) {
        if (i > 0) out += (i + 1 == choices.size()) ? " or " : ", ";
        out += quote_json(choices[i]);
    }
    return out;
}

std::string list_of(const std::vector<std::string>& items) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ", ";
        out += quote_json(items[i]);
    }
    return out;
}

std::string suggestion(std::string_view word, const std::vector<std::string>& known) {
    auto near = nearest_word(word, known);
    return near ? "; did you mean " + quote_json(*near) + "?" : std::string{};
}

// `expected "a", "b" or "c", found "x"; did you mean "a"?`
std::string bad_choice(const json& found, const std::vector<std::string>& choices) {
    std::string message = "expected " + one_of(choices) + ", found " + describe(found);
    if (found.is_string()) message += suggestion(found.get_ref<const std::string&>(), choices);
    return message;
}

std::string escape_pointer_token(std::string_view token) {
    std::string out;
    out.reserve(token.size());
    for (char c : token) {
        if (c == '~')
            out += "~0";
        else if (c == '/')
            out += "~1";
        else
            out += c;
    }
    return out;
}

std::string child_path(const std::string& parent, std::string_view token) {
    return parent + "/" + escape_pointer_token(token);
}

std::string child_path(const std::string& parent, std::size_t index) { return parent + "/" + std::to_string(index); }

// Absent and null are the same for optional keys: a generated document may write null for "not set".
const json* find_value(const json& object, std::string_view key) {
    if (!object.is_object()) return nullptr;
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return nullptr;
    return &*it;
}

std::string unknown_key_message(const std::string& key, const std::vector<std::string>& known) {
    auto near = nearest_word(key, known);
    if (near) return "unknown key " + describe(json(key)) + "; did you mean " + quote_json(*near) + "?";
    return "unknown key " + describe(json(key)) + "; expected one of " + list_of(known);
}

const std::vector<std::string>& error_class_names() {
    static const std::vector<std::string> names{"transient", "permanent", "unknown"};
    return names;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// nearest_word

std::optional<std::string> nearest_word(std::string_view word, const std::vector<std::string>& known) {
    auto lower = [](std::string_view s) {
        std::string out(s);
        for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return out;
    };
    const std::string w = lower(word);
    std::optional<std::string> best;
    std::size_t best_distance = std::numeric_limits<std::size_t>::max();
    std::vector<std::size_t> previous;
    std::vector<std::size_t> current;
    for (const auto& candidate : known) {
        // The distance is at least the difference in length: a word far longer than every known
        // one (a megabyte-long key) costs nothing, rather than its length times theirs.
        const std::size_t longer = std::max(word.size(), candidate.size());
        const std::size_t shorter = std::min(word.size(), candidate.size());
        if (longer - shorter > std::max<std::size_t>(2, longer / 3)) continue;
        const std::string k = lower(candidate);
        previous.resize(k.size() + 1);
        current.resize(k.size() + 1);
        for (std::size_t j = 0; j <= k.size(); ++j) previous[j] = j;
        for (std::size_t i = 1; i <= w.size(); ++i) {
            current[0] = i;
            for (std::size_t j = 1; j <= k.size(); ++j) {
                const std::size_t substitution = previous[j - 1] + (w[i - 1] == k[j - 1] ? 0 : 1);
                current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
            }
            std::swap(previous, current);
        }
        const std::size_t distance = previous[k.size()];
        // A third of the longer word: a truncated name (`delayMax` for `delayMaximum`) is still found.
        const std::size_t threshold = std::max<std::size_t>(2, std::max(w.size(), k.size()) / 3);
        if (distance <= threshold && distance < best_distance) {
            best_distance = distance;
            best = candidate;
        }
    }
    return best;
}

}  // namespace failpipe
