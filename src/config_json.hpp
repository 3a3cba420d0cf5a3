// How a config document's values and places are put into words: JSON pointers, values shown after
// "found", choices, unknown keys. Shared by the reader, the section loaders and the text parser.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace failpipe::detail {

/// A string as a JSON literal; invalid UTF-8 is shown replaced, never thrown.
std::string quote_json(std::string_view s);
/// A value as shown after "found": scalars as JSON, containers by kind, long strings shortened.
std::string describe(const nlohmann::json& value);
/// `"a", "b" or "c"`.
std::string one_of(const std::vector<std::string>& choices);
/// `"a", "b", "c"`.
std::string list_of(const std::vector<std::string>& items);
/// `; did you mean "x"?` when a known word is near, else empty.
std::string suggestion(std::string_view word, const std::vector<std::string>& known);
/// `expected "a", "b" or "c", found "x"; did you mean "a"?`
std::string bad_choice(const nlohmann::json& found, const std::vector<std::string>& choices);
/// A key as a JSON pointer token (`~` and `/` escaped).
std::string escape_pointer_token(std::string_view token);
std::string child_path(const std::string& parent, std::string_view token);
std::string child_path(const std::string& parent, std::size_t index);
/// The value of an optional @p key: absent and null are the same (a generated document may write
/// null for "not set").
const nlohmann::json* find_value(const nlohmann::json& object, std::string_view key);
std::string unknown_key_message(const std::string& key, const std::vector<std::string>& known);

/// The names of the error classes, as written in a document.
const std::vector<std::string>& error_class_names();

}  // namespace failpipe::detail
