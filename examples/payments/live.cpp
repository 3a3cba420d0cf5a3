#include "live.hpp"

#include <failpipe/error.hpp>

#include <spdlog/spdlog.h>

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <deque>
#include <utility>

namespace payments {
namespace {

using SteadyClock = std::chrono::steady_clock;

// One line, redrawn in place.
void draw_line(std::string line) {
    // A line longer than the terminal would wrap, and \r would redraw only its last part.
    winsize size{};
    if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 1 && line.size() >= size.ws_col) {
        line.resize(size.ws_col - 1);
    }
    std::fprintf(stderr, "\r\033[2K%s", line.c_str());
    std::fflush(stderr);
}

// `new` for the first level, `5s` for `payments-retry-5s`: the live line must fit a terminal.
std::string short_name(const std::vector<std::string>& levels, std::size_t i) {
    if (i == 0) return "new";
    const std::string prefix = levels.front() + "-retry-";
    return levels[i].rfind(prefix, 0) == 0 ? levels[i].substr(prefix.size()) : levels[i];
}

std::string grouped(std::uint64_t value) {
    std::string digits = std::to_string(value);
    for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<std::size_t>(i), ",");
    return digits;
}

}  // namespace

Ending watch(const Live& live, bool draw, SteadyClock::time_point start, std::chrono::seconds timeout,
             const failpipe::ShutdownSignals& signals) {
    // (time, done) samples reaching one second back: the rate is over the last second (over the time
    // so far during the first one), so it shows at once and falls to 0 when nothing completes.
    std::deque<std::pair<SteadyClock::time_point, std::uint64_t>> samples{{SteadyClock::now(), 0}};
    Ending ending = Ending::finished;
    for (;;) {
        // The settled counters (the workers count once the broker confirmed) are read before the
        // broker's depths: a payment that finishes in between is in neither, so "done" and "queued"
        // never add up to more than were produced.
        const auto m = live.pool.metrics().snapshot();
        const std::uint64_t done = m.succeeded + m.dead_lettered;
        std::size_t waiting = 0, in_flight = 0;
        std::vector<std::size_t> per_level;
        try {
            for (const auto& level : live.levels) {
                const auto depth = live.broker.depth(level);
                per_level.push_back(depth.total());
                waiting += depth.total();
                in_flight += depth.reserved;
            }
        } catch (const failpipe::Error& e) {
            if (auto log = spdlog::get("failpipe")) log->error("depth: {}", e.what());
            per_level.assign(live.levels.size(), 0);
            waiting = 1;  // unknown: keep waiting
        }
        const auto now = SteadyClock::now();
        samples.emplace_back(now, done);
        while (samples.size() > 2 && now - samples[1].first >= std::chrono::seconds(1)) samples.pop_front();
        const double span = std::chrono::duration<double>(now - samples.front().first).count();
        const double rate = span > 0 ? static_cast<double>(done - samples.front().second) / span : 0.0;
        if (draw) {
            std::string line = grouped(done) + "/" + grouped(live.produced) + " done (" + grouped(m.succeeded) + " ok, " +
                               grouped(m.dead_lettered) + " dead) | queued:";
            for (std::size_t i = 0; i < live.levels.size(); ++i) {
                line += " " + short_name(live.levels, i) + " " + grouped(per_level[i]);
            }
            line += " | in flight " + grouped(in_flight) + " | released " + grouped(m.released) + " | " +
                    grouped(static_cast<std::uint64_t>(rate)) + "/s | gateway " + (live.gateway.down() ? "DOWN" : "up") +
                    ", breaker " + std::string(failpipe::to_string(live.breaker.state()));
            draw_line(line);
        }
        if (waiting == 0) break;
        if (now - start > timeout) {
            ending = Ending::timed_out;
            break;
        }
        if (signals.wait_for(1, std::chrono::milliseconds(100))) {
            ending = Ending::interrupted;
            break;
        }
    }
    if (draw) {
        std::fputs("\n", stderr);
        std::fflush(stderr);
    }
    return ending;
}

}  // namespace payments
