// Parsing a document's text (see config_text.hpp).
#include "config_text.hpp"

#include <string>
#include <unordered_set>

#include "config_bounds.hpp"
#include "config_issues.hpp"
#include "config_json.hpp"
#include "failpipe/config_limits.hpp"

namespace failpipe::detail {
namespace {

using nlohmann::json;

// Thrown from the parser callback to stop parsing a document nested too deep.
struct TooDeep {
    std::string path;
};

// Builds the document from nlohmann's SAX events, watching for what the parsed json loses or must
// never hold: duplicate keys (JSON allows them and nlohmann silently keeps the last one, so a config
// whose first `maxAttempts` is ignored would load), the order of keys in the text (nlohmann's
// objects are sorted, and issues are listed in the order the file has them), and nesting beyond
// ConfigLimits::kMaxDepth (the parse stops at the first such value). Work per event is constant
// apart from the key's own length; pointers are built only for a problem. (nlohmann's parser
// callback is not used: it rescans an array after each object in it, quadratic in the array.)
class DocumentBuilder : public nlohmann::json_sax<json> {
public:
    DocumentBuilder(json& root, std::vector<ConfigIssue>& duplicates, std::size_t& dropped, TextOrder& order)
        : root_(root), duplicates_(duplicates), dropped_(dropped), order_(order) {}

    bool null() override { return value(nullptr); }
    bool boolean(bool v) override { return value(v); }
    bool number_integer(number_integer_t v) override { return value(v); }
    bool number_unsigned(number_unsigned_t v) override { return value(v); }
    bool number_float(number_float_t v, const string_t& /*text*/) override { return value(v); }
    bool string(string_t& v) override { return value(std::move(v)); }
    bool binary(binary_t& v) override { return value(json::binary(std::move(v))); }

    bool start_object(std::size_t /*elements*/) override { return open(json::value_t::object); }
    bool start_array(std::size_t /*elements*/) override { return open(json::value_t::array); }
    bool end_object() override { return close(); }
    bool end_array() override { return close(); }

    bool key(string_t& k) override {
        Frame& frame = frames_.back();
        frame.key = k;
        order_.record(TextOrder::child(frame.hash, escape_pointer_token(frame.key)));
        if (!frame.keys.insert(frame.key).second && has_room(duplicates_, &dropped_))
            duplicates_.push_back(
                {path(), "duplicate key " + describe(json(frame.key)) + " (only its last value would be used)"});
        // As nlohmann: a repeated key's later value replaces the earlier one.
        slot_ = &(*frame.value)[k];
        return true;
    }

    bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                     const nlohmann::detail::exception& e) override {
        // Rethrown as its own type: the caller turns a parse_error into line and column.
        if (const auto* error = dynamic_cast<const json::parse_error*>(&e)) throw *error;
        throw e;
    }

private:
    struct Frame {
        json* value;
        std::uint64_t hash;  // of the frame's own pointer
        std::unordered_set<std::string> keys;
        std::string key;
        std::size_t next_index;
    };

    // Where the next value goes, and the hash of its pointer (recorded for an array element; an
    // object member was recorded at its key).
    std::pair<json*, std::uint64_t> place() {
        if (frames_.empty()) return {&root_, TextOrder::kRoot};
        Frame& frame = frames_.back();
        if (frame.value->is_object()) return {slot_, TextOrder::child(frame.hash, escape_pointer_token(frame.key))};
        const std::uint64_t hash = TextOrder::child(frame.hash, std::to_string(frame.next_index++));
        order_.record(hash);
        frame.value->push_back(nullptr);
        return {&frame.value->back(), hash};
    }

    template <class V>
    bool value(V&& v) {
        *place().first = json(std::forward<V>(v));
        return true;
    }

    bool open(json::value_t type) {
        auto [slot, hash] = place();
        if (frames_.size() >= ConfigLimits::kMaxDepth) throw TooDeep{path()};
        *slot = json(type);
        frames_.push_back(Frame{slot, hash, {}, {}, 0});
        return true;
    }

    bool close() {
        frames_.pop_back();
        return true;
    }

    // The pointer of the value being parsed: only built for a problem.
    std::string path() const {
        std::string out;
        for (const auto& frame : frames_) {
            if (frame.value->is_object())
                out = child_path(out, frame.key);
            else
                out = child_path(out, frame.next_index - 1);
        }
        return out;
    }

    json& root_;
    std::vector<ConfigIssue>& duplicates_;
    std::size_t& dropped_;
    TextOrder& order_;
    std::vector<Frame> frames_;
    json* slot_ = nullptr;
};


std::pair<std::size_t, std::size_t> line_and_column(std::string_view text, std::size_t byte) {
    std::size_t line = 1;
    std::size_t column = 1;
    // nlohmann reports the position just past the offending character.
    const std::size_t end = std::min(byte > 0 ? byte - 1 : 0, text.size());
    for (std::size_t i = 0; i < end; ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return {line, column};
}

// nlohmann's text is "[json.exception.parse_error.101] parse error at line L, column C: <detail>";
// the detail is what helps, the position is computed from the text (so it is 1-based and exact).
std::string parse_error_detail(const std::string& what) {
    auto colon = what.find(": ");
    if (what.find("parse error at line") != std::string::npos && colon != std::string::npos)
        return what.substr(colon + 2);
    auto bracket = what.find("] ");
    return bracket == std::string::npos ? what : what.substr(bracket + 2);
}

}  // namespace

// Sorts issues by where their value starts in the text. A path not in the text (a custom
// factory's own) goes with its nearest ancestor that is; the sort is stable.
void sort_in_text_order(std::vector<ConfigIssue>& issues, const TextOrder& order) {
    std::vector<std::pair<std::size_t, std::size_t>> keyed;  // (position, index): each path is looked up once
    keyed.reserve(issues.size());
    for (std::size_t i = 0; i < issues.size(); ++i) keyed.emplace_back(order.position(issues[i].path), i);
    std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<ConfigIssue> sorted;
    sorted.reserve(issues.size());
    for (const auto& [position, i] : keyed) sorted.push_back(std::move(issues[i]));
    issues = std::move(sorted);
}


ParsedText parse_text(std::string_view text) {
    ParsedText parsed;
    try {
        DocumentBuilder builder(parsed.document, parsed.issues, parsed.dropped, parsed.order);
        (void)json::sax_parse(text.begin(), text.end(), &builder);
    } catch (const TooDeep& e) {
        throw ConfigError({{e.path, too_deep_message()}});
    } catch (const json::parse_error& e) {
        auto [line, column] = line_and_column(text, e.byte);
        throw ConfigError({{"", "JSON syntax error at line " + std::to_string(line) + ", column " +
                                    std::to_string(column) + ": " + parse_error_detail(e.what())}});
    } catch (const json::exception& e) {
        throw ConfigError({{"", "invalid JSON: " + parse_error_detail(e.what())}});
    }
    parsed.order.seal();
    return parsed;
}

}  // namespace failpipe::detail
