#include "failpipe/jitter.hpp"

#include <random>

namespace failpipe {

std::uint64_t RandomSource::random_seed() {
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

double RandomSource::next_unit() noexcept {
    // SplitMix64: one atomic add per draw keeps it lock-free under concurrent workers, and a seed
    // reproduces the sequence exactly in a single-threaded run.
    std::uint64_t z = state_.fetch_add(0x9E3779B97F4A7C15ull, std::memory_order_relaxed) + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-53;
}

}  // namespace failpipe
