// Clients refused from their headers (a reply with `Connection: close`) that keep writing the body
// anyway: the server reads and drops what they send after its reply (its linger), on the thread
// that served them. For the tests that a request is not held up meanwhile.
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../raw_http.hpp"

namespace failpipe::test {

class RefusedSenders {
public:
    /// Opens @p count connections to @p port, sends @p request on each (REQUIREd to be refused with
    /// @p status and `Connection: close`), then writes 512 bytes on each every 20 ms until destroyed.
    RefusedSenders(std::uint16_t port, int count, const std::string& request, int status) {
        for (int i = 0; i < count; ++i) {
            connections_.push_back(std::make_unique<RawConnection>(port));
            connections_.back()->send(request);
            const RawReply refused = connections_.back()->read_reply();
            REQUIRE(refused.status() == status);
            REQUIRE(refused.has("Connection: close"));
        }
        writer_ = std::thread([this] {
            const std::string chunk(512, 'x');
            while (!done_) {
                for (auto& connection : connections_) connection->try_send(chunk);
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
        });
    }
    ~RefusedSenders() {
        done_ = true;
        writer_.join();
    }
    RefusedSenders(const RefusedSenders&) = delete;
    RefusedSenders& operator=(const RefusedSenders&) = delete;

private:
    std::vector<std::unique_ptr<RawConnection>> connections_;
    std::atomic<bool> done_{false};
    std::thread writer_;
};

}  // namespace failpipe::test
