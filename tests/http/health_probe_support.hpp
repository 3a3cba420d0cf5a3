// What the /health tests over a hung broker read: the threads of this process, the broker's reason
// in a report, and one GET /health on a connection of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <httplib.h>

#include <nlohmann/json.hpp>

namespace failpipe::test {

inline std::size_t threads_of_this_process() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/task")) ++n;
    return n;
}

/// The broker component's first reason in a /health body, or "healthy".
inline std::string broker_reason(const std::string& body) {
    const auto doc = nlohmann::json::parse(body, nullptr, false);
    if (!doc.is_object() || !doc.contains("components")) return "not a report: " + body;
    for (const auto& c : doc.at("components"))
        if (c.at("name") == "broker") return c.at("reasons").empty() ? "healthy" : c.at("reasons")[0].get<std::string>();
    return "no broker component";
}

/// The status and body of one GET /health (0 and "no reply" when there is none).
inline std::pair<int, std::string> get_health(std::uint16_t port) {
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(40);
    auto reply = client.Get("/health");
    return reply ? std::make_pair(reply->status, reply->body) : std::make_pair(0, std::string("no reply"));
}

}  // namespace failpipe::test
