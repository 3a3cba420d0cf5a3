/// @file format.hpp
/// @brief Output helpers shared by `failpipe` commands: exact numbers and aligned tables.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace failpipe::cli {

/// @brief The shortest text that reads back as exactly @p value: 5, 7.5, 56.953125, 1e-05.
std::string format_number(double value);

/// @brief @p value with at most @p significant digits, for derived figures such as sums, where the
/// last bits of rounding error are noise (0.35, not 0.35000000000000003).
std::string format_rounded(double value, int significant);

/// @brief @p value as JSON, an integer when it has no fraction, so JSON output matches the table (`5`, not `5.0`).
nlohmann::ordered_json json_number(double value);

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
