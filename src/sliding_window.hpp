// Counts over a sliding window of time, in a fixed number of slices: constant memory however many
// events arrive. Not thread-safe: its owner locks.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "failpipe/clock.hpp"

namespace failpipe::detail {

/// @p N counters per slice. An event is counted for at least window − window/kSlices and at most
/// window after it was added (it leaves with its slice).
template <std::size_t N>
class SlidingCounts {
public:
    static constexpr std::size_t kSlices = 20;
    using Totals = std::array<std::uint64_t, N>;

    explicit SlidingCounts(Seconds window)
        : width_(std::max<std::chrono::system_clock::duration::rep>(1, to_clock_duration(window).count() /
                                                                           static_cast<std::int64_t>(kSlices))) {}

    void add(TimePoint now, std::size_t counter, std::uint64_t n = 1) {
        Slice& slice = slice_at(index_of(now));
        slice.counts[counter] += n;
    }

    Totals totals(TimePoint now) const {
        Totals sum{};
        const std::int64_t current = index_of(now);
        for (const Slice& slice : slices_) {
            if (slice.index > current || slice.index <= current - static_cast<std::int64_t>(kSlices)) continue;
            for (std::size_t i = 0; i < N; ++i) sum[i] += slice.counts[i];
        }
        return sum;
    }

    void clear() { slices_ = {}; }

private:
    struct Slice {
        std::int64_t index = std::numeric_limits<std::int64_t>::min();
        Totals counts{};
    };

    std::int64_t index_of(TimePoint now) const {
        const auto ticks = now.time_since_epoch().count();
        // Floor division: times before the epoch (a test clock) still fall in the right slice.
        std::int64_t index = ticks / width_;
        if (ticks % width_ < 0) --index;
        return index;
    }

    Slice& slice_at(std::int64_t index) {
        auto slot = static_cast<std::size_t>(((index % static_cast<std::int64_t>(kSlices)) + kSlices) % kSlices);
        Slice& slice = slices_[slot];
        if (slice.index != index) slice = Slice{index, {}};
        return slice;
    }

    std::int64_t width_;
    std::array<Slice, kSlices> slices_{};
};

}  // namespace failpipe::detail
