// Helpers of the key-layout tests (one Redis and the cluster): a config file on disk for the
// `failpipe` CLI, the CLI run with its exit status and both streams, and a worker run until a
// condition holds.
#pragma once

#include <doctest/doctest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>

#include "failpipe/config.hpp"
#include "failpipe/worker.hpp"
#include "redis_test_support.hpp"

namespace failpipe::key_layout_test {

/// Two flows, each its own shard group: `orders` and `emails` dead-letter a permanent failure.
/// @p layout: the config's `keyLayout` (empty: none).
inline std::string two_flows_config(const std::string& layout = {}) {
    std::string text = R"({
  "pipelines": {
    "orders": [{"type": "dead-letter", "id": "invalid", "on": ["permanent"]}],
    "emails": [{"type": "dead-letter", "id": "invalid", "on": ["permanent"]}]
  },
  "worker": {"channels": ["orders", "emails"]})";
    if (!layout.empty()) text += ",\n  \"keyLayout\": \"" + layout + "\"";
    return text + "\n}\n";
}

/// @p text written to a file of its own under the temp directory (removed with the object).
class ConfigFile {
public:
    explicit ConfigFile(const std::string& text)
        : path_(std::filesystem::temp_directory_path() / (redis_test::unique_prefix("layout-config") + ".json")) {
        std::ofstream(path_) << text;
    }
    ~ConfigFile() {
        std::error_code ignored;
        std::filesystem::remove(path_, ignored);
    }
    ConfigFile(const ConfigFile&) = delete;
    ConfigFile& operator=(const ConfigFile&) = delete;
    std::string path() const { return path_.string(); }

private:
    std::filesystem::path path_;
};

struct CliRun {
    int status = -1;
    std::string output;  ///< stdout and stderr
};

#ifdef FAILPIPE_CLI
/// Runs the failpipe CLI with @p args (a shell command line) and FAILPIPE_REDIS_URL unset.
inline CliRun run_cli(const std::string& args) {
    CliRun run;
    FILE* pipe = ::popen(("env -u FAILPIPE_REDIS_URL " + std::string(FAILPIPE_CLI) + " " + args + " 2>&1").c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) run.output += buffer.data();
    const int status = ::pclose(pipe);
    run.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return run;
}
#endif

/// Runs a Worker of @p config over @p adapter whose handler of "job" fails every message for good
/// (so each becomes a dead letter), until @p done holds (at most 60 s). True when it did.
inline bool dead_letter_all(const std::shared_ptr<AdapterInterface>& adapter, const Config& config,
                            const std::function<bool()>& done) {
    Worker worker(adapter, config.make_dispatcher(), config.classifier, config.worker);
    worker.on("job", [](const Message&, HandlerContext&) { throw PermanentError("invalid"); });
    std::jthread thread([&worker](std::stop_token stop) { worker.run(stop); });
    return redis_test::eventually(done, std::chrono::seconds(60));
}

}  // namespace failpipe::key_layout_test
