/// @file format.hpp
/// @brief Output helpers shared by `failpipe` commands: exact numbers and aligned tables.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "args.hpp"

namespace failpipe::cli {

/// @brief The shortest text that reads back as exactly @p value: 5, 7.5, 56.953125, 1e-05.
std::string format_number(double value);

/// @brief @p value with at most @p significant digits, for derived figures such as sums, where the
/// last bits of rounding error are noise (0.35, not 0.35000000000000003).
std::string format_rounded(double value, int significant);

/// @brief @p value as JSON, an integer when it has no fraction, so JSON output matches the table (`5`, not `5.0`).
nlohmann::ordered_json json_number(double value);

/// @brief @p text on one line of a terminal: control bytes, which could move the cursor, retitle
/// the window or recolour the screen, become `?` (line breaks and tabs a space); cut after
/// @p at_most bytes, never inside a UTF-8 character, marked with "…". Names and ids from a config
/// or the broker (a foreign producer's key, a handler's error message) print through this.
std::string one_line(std::string_view text, std::size_t at_most = kMaxEchoedBytes);

/// @brief Prints @p line through one_line (uncut), then a newline.
void print_line(std::ostream& out, const std::string& line);

/// @brief Prints @p rows under @p header, columns padded to their widest cell; columns listed in
/// @p right_aligned (by index) are aligned right. Control bytes in a cell print as `?` (line breaks
/// and tabs as a space): a cell may hold a name from the broker.
void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows, const std::vector<std::size_t>& right_aligned);

/// @brief As above, with the cells of row i given by @p row(i) (called twice per row: once to
/// measure, once to print), so that a long table is not held as strings.
void print_table(std::ostream& out, const std::vector<std::string>& header, std::size_t rows,
                 const std::function<std::vector<std::string>(std::size_t)>& row,
                 const std::vector<std::size_t>& right_aligned);

}  // namespace failpipe::cli
