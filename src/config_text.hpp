// Parsing a document's text: nlohmann's SAX events with duplicate keys refused, nesting bounded
// while parsing, syntax errors placed at line and column, and where each value starts kept so that
// issues are listed in the order the file has them.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "failpipe/error.hpp"

namespace failpipe::detail {

// Positions of values in the text, by JSON pointer. Each pointer is kept as a 64-bit hash chained
// from its parent's (not as a string: storing every value's pointer costs the depth times the
// number of values), so recording is constant work per value and lookup walks one pointer. A hash
// collision could only misplace an issue in the listing.
class TextOrder {
public:
    static constexpr std::uint64_t kRoot = 0x6a09e667f3bcc908ULL;

    // The hash of the child @p token (an escaped pointer token, as written in a pointer) of @p parent.
    static std::uint64_t child(std::uint64_t parent, std::string_view token) {
        std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a over the token
        for (unsigned char c : token) h = (h ^ c) * 0x100000001b3ULL;
        std::uint64_t x = parent ^ (h + 0x9e3779b97f4a7c15ULL + (parent << 6) + (parent >> 2));
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;  // splitmix64's finaliser
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        return x ^ (x >> 31);
    }

    void record(std::uint64_t hash) { entries_.emplace_back(hash, entries_.size()); }

    void seal() {
        std::sort(entries_.begin(), entries_.end());
    }

    // The position of @p path, or of its nearest ancestor that is in the text (a custom factory's
    // issue may name a key that is not); 0 for the document.
    std::size_t position(std::string_view path) const {
        std::vector<std::uint64_t> chain{kRoot};
        while (!path.empty()) {
            path.remove_prefix(1);  // the leading '/'
            const auto slash = path.find('/');
            chain.push_back(child(chain.back(), path.substr(0, slash)));
            path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash);
        }
        for (std::size_t i = chain.size(); i-- > 1;) {
            auto it = std::lower_bound(entries_.begin(), entries_.end(), std::pair<std::uint64_t, std::size_t>{chain[i], 0});
            if (it != entries_.end() && it->first == chain[i]) return it->second + 1;
        }
        return 0;
    }

private:
    std::vector<std::pair<std::uint64_t, std::size_t>> entries_;
};

/// A document parsed from text, with what the parse found wrong that JSON itself allows.
struct ParsedText {
    nlohmann::json document;
    std::vector<ConfigIssue> issues;  ///< duplicate keys
    std::size_t dropped = 0;          ///< issues beyond kMaxKeptIssues, only counted
    TextOrder order;                  ///< sealed
};

/// Parses @p text. A syntax error (at line and column) and nesting beyond ConfigLimits::kMaxDepth
/// are thrown as ConfigError; the size limit is the caller's.
ParsedText parse_text(std::string_view text);

/// Sorts issues by where their value starts in the text. A path not in the text (a custom
/// factory's own) goes with its nearest ancestor that is; the sort is stable.
void sort_in_text_order(std::vector<ConfigIssue>& issues, const TextOrder& order);

}  // namespace failpipe::detail
