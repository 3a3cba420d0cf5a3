// `failpipe config check FILE`: load a config exactly as a worker would, and say what is in it.
#include <ostream>
#include <string>

#include "command.hpp"
#include "failpipe/config.hpp"

namespace failpipe::cli {
namespace {

std::string count(std::size_t n, const char* noun) { return std::to_string(n) + " " + noun + (n == 1 ? "" : "s"); }

// `ok: 2 pipelines (default: 2 middlewares; failed-messages: 1 middleware), final dead-letter`
std::string summary(const Config& config) {
    const auto& d = config.dispatcher;
    std::string out = "ok: " + count(1 + d.pipelines.size(), "pipeline") +
                      " (default: " + count(d.default_pipeline.size(), "middleware");
    for (const auto& [channel, pipeline] : d.pipelines)
        out += "; " + channel + ": " + count(pipeline.size(), "middleware");
    out += "), final " + std::string(to_string(d.final_behavior));
    if (const auto* rules = config.document.contains("classification") ? &config.document["classification"] : nullptr;
        rules && rules->is_array() && !rules->empty())
        out += ", " + count(rules->size(), "classification rule");
    if (!config.worker.channels.empty()) out += ", worker on " + count(config.worker.channels.size(), "channel");
    return out;
}

int run_check(const Invocation& inv) {
    const std::string& file = inv.args.positionals.at(0);
    require_file(file);
    try {
        const Config config = load_config_file(file);
        inv.out << summary(config) << '\n';
        return kExitOk;
    } catch (const ConfigError& e) {
        print_config_issues(inv.err, file, e);
        return kExitFailed;
    }
}

}  // namespace

Command config_check_command() {
    Command c;
    c.words = {"config", "check"};
    c.summary = "Check a config file and summarise its pipelines";
    c.description =
        "Loads FILE as a worker would: every middleware is built and every parameter checked.\n"
        "Prints a one-line summary and exits 0, or prints every problem on its own line\n"
        "(FILE: /json/pointer: what was expected, what was found) and exits 1.";
    c.positionals = {{"FILE", "the JSON config (see docs/config.md)"}};
    c.examples = {"failpipe config check config/yii-guide.json"};
    c.run = run_check;
    return c;
}

}  // namespace failpipe::cli
