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

std::string one_line(std::string_view text, std::size_t at_most) {
    std::size_t end = text.size();
    if (end > at_most) {
        end = at_most;
        while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    }
    std::string out;
    out.reserve(end + 3);
    for (const char c : text.substr(0, end)) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '\n' || c == '\r' || c == '\t') {
            out += ' ';
        } else if (byte < 0x20 || byte == 0x7f) {
            out += '?';
        } else {
            out += c;
        }
    }
    if (end < text.size()) out += "…";
    return out;
}

void print_line(std::ostream& out, const std::string& line) { out << one_line(line, std::string_view::npos) << '\n'; }

namespace {

// A cell may hold a name from the broker (a foreign producer's key, a message id).
std::vector<std::string> printable(std::vector<std::string> cells) {
    for (auto& cell : cells) cell = one_line(cell, std::string_view::npos);
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
