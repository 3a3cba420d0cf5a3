// Loops of dead-letter channels: a ring of dead-letter steps with no counter to end it. Each
// consumed channel has at most one dead-letter step per error class (the first one its pipeline
// reaches for that class, else the final handler's), so per class the steps form a graph with one
// edge out of each channel, and a loop is found by walking it.
#include "config_cycles.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "config_json.hpp"
#include "failpipe/dead_letter_middleware.hpp"

namespace failpipe::detail {
namespace {

// One dead-letter step: where a channel's failing message goes, and the config key that says so
// (empty for the final handler and for a middleware without a queue: their channel + suffix).
struct Step {
    std::string to;
    std::string queue_path;
};

using Steps = std::map<std::string, Step>;

// The dead-letter step of @p channel's pipeline for a failure of class @p error_class, if any.
std::optional<Step> step_of(const Config& config, const std::string& channel, ErrorClass error_class) {
    const auto& options = config.dispatcher;
    const auto own = options.pipelines.find(channel);
    const bool has_own = own != options.pipelines.end() && !own->second.empty();
    const FailurePipeline& pipeline = has_own ? own->second : options.default_pipeline;
    const std::string path = has_own ? child_path("/pipelines", channel) : "/defaultPipeline";
    for (std::size_t i = 0; i < pipeline.size(); ++i) {
        const auto* dead_letter = dynamic_cast<const DeadLetterMiddleware*>(pipeline[i].get());
        if (dead_letter == nullptr || !dead_letter->on().matches(error_class)) continue;
        const bool fixed = !dead_letter->queue().empty() && dead_letter->queue() != channel;
        return Step{dead_letter->target_for(channel, options.dead_letter_suffix),
                    fixed ? child_path(child_path(path, i), "queue") : std::string()};
    }
    if (options.final_behavior != FinalBehavior::dead_letter) return std::nullopt;
    return Step{channel + options.dead_letter_suffix, {}};
}

// Every channel a worker runs a pipeline on, as far as the config says.
std::set<std::string> consumed_channels(const Config& config) {
    std::set<std::string> channels(config.worker.channels.begin(), config.worker.channels.end());
    for (const auto& [channel, pipeline] : config.dispatcher.pipelines) channels.insert(channel);
    return channels;
}

// The loops of one graph, each as its channels in order, starting at its smallest name.
std::vector<std::vector<std::string>> loops_of(const Steps& steps) {
    std::vector<std::vector<std::string>> loops;
    std::set<std::string> done;
    for (const auto& [start, step] : steps) {
        std::vector<std::string> walk;
        std::string at = start;
        while (!done.count(at) && steps.count(at)) {
            if (const auto seen = std::find(walk.begin(), walk.end(), at); seen != walk.end()) {
                std::vector<std::string> loop(seen, walk.end());
                std::rotate(loop.begin(), std::min_element(loop.begin(), loop.end()), loop.end());
                loops.push_back(std::move(loop));
                break;
            }
            walk.push_back(at);
            at = steps.at(at).to;
        }
        done.insert(walk.begin(), walk.end());
    }
    return loops;
}

std::string describe_loop(const std::vector<std::string>& loop, const Steps& steps, const std::string& classes,
                          const std::string& suffix, std::string& path) {
    std::string ring;
    std::string keys;
    for (const auto& channel : loop) {
        ring += quote_json(channel) + " -> ";
        const Step& step = steps.at(channel);
        if (!keys.empty()) keys += ", ";
        if (step.queue_path.empty()) {
            keys += "the dead letters of " + quote_json(channel) + " go to " + quote_json(step.to) + " (" +
                    quote_json(channel) + " + deadLetterSuffix)";
        } else {
            keys += step.queue_path + " sends the dead letters of " + quote_json(channel) + " to " + quote_json(step.to);
            if (path.empty()) path = step.queue_path;
        }
    }
    ring += quote_json(loop.front());
    return "dead-letter loop " + ring + ": a message that keeps failing" + classes +
           " would be dead-lettered round it without end, never resting (" + keys +
           "). Let one of them rest: a \"queue\" no pipeline consumes, or none (the channel + " + quote_json(suffix) +
           ")";
}

}  // namespace

void check_dead_letter_loops(const Config& config, std::vector<ConfigIssue>& issues) {
    const std::set<std::string> consumed = consumed_channels(config);
    // The same ring usually exists for every error class: reported once, naming the classes when not all.
    std::map<std::vector<std::string>, std::pair<Steps, std::vector<std::string>>> found;
    for (const ErrorClass error_class : {ErrorClass::transient, ErrorClass::permanent, ErrorClass::unknown}) {
        Steps steps;
        for (const auto& channel : consumed) {
            if (auto step = step_of(config, channel, error_class)) steps.emplace(channel, std::move(*step));
        }
        for (auto& loop : loops_of(steps)) {
            auto& entry = found[loop];
            if (entry.second.empty()) entry.first = steps;
            entry.second.emplace_back(to_string(error_class));
        }
    }
    for (const auto& [loop, entry] : found) {
        const auto& classes = entry.second;
        std::string which;
        if (classes.size() < 3) {
            which = " with a " + classes.front() + (classes.size() == 2 ? " or " + classes.back() : "") + " error";
        }
        std::string path;
        std::string message = describe_loop(loop, entry.first, which, config.dispatcher.dead_letter_suffix, path);
        issues.push_back({path, std::move(message)});
    }
}

}  // namespace failpipe::detail
