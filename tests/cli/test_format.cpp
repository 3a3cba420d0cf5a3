// The tool's table printer (tools/failpipe/format.cpp).
#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include "format.hpp"

using failpipe::cli::print_table;

TEST_CASE("table: a cell with control bytes (a channel name from the broker) cannot move the cursor or break the row") {
    std::ostringstream out;
    print_table(out, {"channel", "ready"}, {{"evil\x1b]0;owned\x07\nx\ty", "1"}, {"orders", "22"}}, {1});
    const std::string text = out.str();
    CHECK(text.find('\x1b') == std::string::npos);
    CHECK(text.find('\x07') == std::string::npos);
    CHECK(text ==
          "channel             ready\n"
          "evil?]0;owned? x y      1\n"
          "orders                 22\n");
}
