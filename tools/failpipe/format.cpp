#include "format.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ostream>
#include <system_error>

namespace failpipe::cli {

std::string format_number(double value) {
    char buffer[64];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
    if (ec != std::errc{}) return "nan";
    return std::string(buffer, end);
}

std::string format_rounded(double value, int significant) {
    char buffer[64];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::general, significant);
    if (ec != std::errc{}) return "nan";
    return std::string(buffer, end);
}

nlohmann::ordered_json json_number(double value) {
    // 2^53: beyond it a double no longer holds every integer, and an integer would claim precision it lacks.
    constexpr double kExactIntegers = 9007199254740992.0;
    if (std::isfinite(value) && std::trunc(value) == value && std::fabs(value) <= kExactIntegers)
        return static_cast<long long>(value);
    return value;
}

namespace {

// A cell on one line of a terminal: names and ids may come from the broker (a foreign producer's
// key, a message id), so control bytes that would move the cursor, retitle the window or break
// the row become '?' (line breaks and tabs a space), as `dlq` shows them.
std::vector<std::string> printable(std::vector<std::string> cells) {
    for (auto& cell : cells) {
        for (char& c : cell) {
            const auto byte = static_cast<unsigned char>(c);
            if (c == '\n' || c == '\r' || c == '\t')
                c = ' ';
            else if (byte < 0x20 || byte == 0x7f)
                c = '?';
        }
    }
    return cells;
}

}  // namespace

void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows, const std::vector<std::size_t>& right_aligned) {
    print_table(out, header, rows.size(), [&](std::size_t i) { return rows[i]; }, right_aligned);
}

void print_table(std::ostream& out, const std::vector<std::string>& header, std::size_t rows,
                 const std::function<std::vector<std::string>(std::size_t)>& row,
                 const std::vector<std::size_t>& right_aligned) {
    std::vector<std::size_t> widths(header.size(), 0);
    auto measure = [&](const std::vector<std::string>& cells) {
        for (std::size_t i = 0; i < cells.size() && i < widths.size(); ++i)
            widths[i] = std::max(widths[i], cells[i].size());
    };
    measure(printable(header));
    for (std::size_t i = 0; i < rows; ++i) measure(printable(row(i)));

    auto print_row = [&](const std::vector<std::string>& cells) {
        std::string line;
        for (std::size_t i = 0; i < cells.size() && i < widths.size(); ++i) {
            const bool right = std::find(right_aligned.begin(), right_aligned.end(), i) != right_aligned.end();
            const std::string pad(widths[i] > cells[i].size() ? widths[i] - cells[i].size() : 0, ' ');
            if (i > 0) line += "  ";
            line += right ? pad + cells[i] : cells[i] + pad;
        }
        // Trailing blanks of the last column are noise in a terminal and in diffs.
        line.erase(line.find_last_not_of(' ') + 1);
        out << line << '\n';
    };
    print_row(printable(header));
    for (std::size_t i = 0; i < rows; ++i) print_row(printable(row(i)));
}

}  // namespace failpipe::cli
