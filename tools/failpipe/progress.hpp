/// @file progress.hpp
/// @brief The progress line of long broker commands (`dlq replay`, `dlq purge`, `layout migrate`).
#pragma once

#include <unistd.h>

#include <cstddef>
#include <ostream>

#include "command.hpp"

namespace failpipe::cli {

/// @brief A progress line on a terminal (stderr), for runs long enough to need one (@p from
/// messages and more). Also remembers how far the run got, for the message should the broker fail
/// half-way.
struct ProgressLine {
    const Invocation& inv;
    const char* verb;
    std::size_t from = 1000;  ///< below this many messages a progress line would only flicker
    bool shown = false;
    std::size_t done = 0;
    std::size_t total = 0;
    void operator()(std::size_t done_now, std::size_t total_now) {
        done = done_now;
        total = total_now;
        if (total < from || ::isatty(STDERR_FILENO) != 1) return;
        shown = true;
        inv.err << '\r' << verb << ' ' << done << " of " << total << std::flush;
    }
    void end_line() {
        if (shown) inv.err << '\n';
        shown = false;
    }
    ~ProgressLine() { end_line(); }
};

}  // namespace failpipe::cli
