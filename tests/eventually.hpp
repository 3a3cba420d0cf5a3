// Bounded polling for tests that wait on other threads or processes.
#pragma once

#include <chrono>
#include <thread>

namespace failpipe::test {

/// Waits until @p condition holds, checking every few milliseconds, at most @p bound.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds bound = std::chrono::seconds(10)) {
    const auto give_up = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < give_up) {
        if (condition()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return condition();
}

}  // namespace failpipe::test
