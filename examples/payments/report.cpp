#include "report.hpp"

#include <failpipe/dead_letters.hpp>

#include <algorithm>
#include <cstdio>
#include <ostream>
#include <regex>

namespace payments {
namespace {

// The payment number of a dead letter or a queued entry: from its data, or from the bytes of a
// poison message (the worker keeps them as a string, encoding utf-8, in `data`; browse gives the
// undecodable bytes still queued, and a foreign entry of the dead-letter channel, as JSON binary).
long long payment_in(const nlohmann::json& data) {
    std::string text;
    if (data.is_string()) {
        text = data.get<std::string>();
    } else if (data.is_binary()) {
        text.assign(data.get_binary().begin(), data.get_binary().end());
    } else {
        return payment_number(data);
    }
    static const std::regex pattern(R"re("payment"\s*:\s*([0-9]{1,9}))re");
    std::smatch match;
    if (!std::regex_search(text, match, pattern)) return -1;
    return std::stoll(match[1].str());
}

}  // namespace

Audit audit(failpipe::AdapterInterface& adapter, const std::vector<std::string>& levels, const Tally& tally,
            const Scenario& scenario, const std::string& dead_letter_suffix, bool include_queued) {
    // The adapter is shared but only read here; DeadLetters needs an owner it will not outlive.
    std::shared_ptr<failpipe::AdapterInterface> view(&adapter, [](failpipe::AdapterInterface*) {});
    failpipe::DeadLetters::Options options;
    options.dead_letter_suffix = dead_letter_suffix;
    failpipe::DeadLetters dead_letters(view, options);

    Audit result;
    result.produced = tally.size();
    std::vector<std::uint32_t> dead_count(tally.size(), 0);
    std::map<std::string, Audit::Group> groups;
    for (const auto& level : levels) {
        failpipe::DeadLetterFilter filter;
        filter.channel = level;
        for (std::size_t offset = 0;;) {
            auto page = dead_letters.list(filter, offset, failpipe::DeadLetters::kPageSize);
            for (const auto& dead : page.items) {
                ++result.dead_letter_entries;
                ++result.by_reason[dead.reason.empty() ? "(none)" : dead.reason];
                ++result.by_channel[dead.channel];
                const long long n = payment_in(dead.message.data);
                if (n >= 1 && static_cast<std::size_t>(n) <= tally.size()) {
                    ++dead_count[static_cast<std::size_t>(n - 1)];
                } else {
                    ++result.foreign_dead_letters;
                }
            }
            offset += page.items.size();
            if (!page.more || page.items.empty()) break;
        }
        for (const auto& group : dead_letters.groups(filter)) {
            auto& merged = groups[group.fingerprint];
            merged.fingerprint = group.fingerprint;
            merged.count += group.count;
            if (merged.error_type.empty()) {
                merged.error_type = group.error_type;
                merged.sample = group.sample_message;
            }
        }
    }
    std::vector<bool> queued(tally.size(), false);
    if (include_queued) {
        for (const auto& level : levels) {
            for (std::size_t offset = 0;;) {
                const auto page = adapter.browse(level, offset, failpipe::DeadLetters::kPageSize);
                for (const auto& message : page) {
                    const long long n = payment_in(message.data);  // poison payments too, as raw bytes
                    if (n >= 1 && static_cast<std::size_t>(n) <= tally.size()) queued[static_cast<std::size_t>(n - 1)] = true;
                }
                offset += page.size();
                if (page.size() < failpipe::DeadLetters::kPageSize) break;
            }
            result.held += adapter.depth(level).reserved;
        }
    }
    // Only a payment that crashes its thread can be held by a crashed thread: the others not found
    // are lost for sure, and of the crashing ones all but as many as are held.
    std::vector<std::size_t> unfound, unfound_crashing;
    for (std::size_t i = 0; i < tally.size(); ++i) {
        const bool charged = tally.charges(i + 1) > 0;
        const bool dead = dead_count[i] > 0;
        result.succeeded += charged ? 1 : 0;
        result.dead_lettered += dead ? 1 : 0;
        result.in_both += charged && dead ? 1 : 0;
        result.duplicates += tally.charges(i + 1) > 1 ? 1 : 0;
        result.dead_twice += dead_count[i] > 1 ? 1 : 0;
        if (!charged && !dead && queued[i]) ++result.queued;
        if (!charged && !dead && !queued[i]) {
            const bool crashing = i < scenario.size() && scenario.kind(i) == Kind::crash;
            (crashing ? unfound_crashing : unfound).push_back(i + 1);
        }
    }
    // Deliveries held by crashed threads cannot be read by id until they come back: only as many
    // crashing payments as they are may be missing for that reason.
    result.held = std::min(result.held, unfound_crashing.size());
    unfound.insert(unfound.end(), unfound_crashing.begin() + static_cast<std::ptrdiff_t>(result.held), unfound_crashing.end());
    std::sort(unfound.begin(), unfound.end());
    result.lost = unfound.size();
    // The sample names only payments the lost count includes (which crashing ones are the held ones
    // cannot be told by id: the first ones not found are taken as held).
    result.lost_sample.assign(unfound.begin(), unfound.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(10, unfound.size())));
    for (auto& [fingerprint, group] : groups) result.groups.push_back(std::move(group));
    std::stable_sort(result.groups.begin(), result.groups.end(),
                     [](const Audit::Group& a, const Audit::Group& b) { return a.count > b.count; });
    return result;
}

namespace {

// 12345 → "12,345"
std::string thousands(std::uint64_t value) {
    std::string digits = std::to_string(value);
    for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<std::size_t>(i), ",");
    return digits;
}
std::string thousands(const nlohmann::json& value) { return thousands(value.get<std::uint64_t>()); }

std::string fixed(double value, int digits) {
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f", digits, value);
    return buffer;
}

}  // namespace

void print_report(const nlohmann::json& r, std::ostream& out) {
    const auto& run = r["run"];
    const auto& dead = r["deadLetters"];
    out << "\npayments: " << thousands(r["produced"]) << " produced on " << run["adapter"].get<std::string>() << ", "
        << run["threads"] << " worker threads, seed " << run["seed"] << ", time scale " << run["timeScale"]
        << " (retry levels 5 s, 15 s, 60 s ran as " << fixed(5 * run["timeScale"].get<double>(), 3) << " s, "
        << fixed(15 * run["timeScale"].get<double>(), 3) << " s, " << fixed(60 * run["timeScale"].get<double>(), 3)
        << " s)\n";
    const auto& kinds = r["scenario"];
    out << "  simulated: " << thousands(kinds["invalidCard"]) << " invalid cards, " << thousands(kinds["poison"])
        << " malformed (poison), " << thousands(kinds["crash"]) << " that crash their worker thread; gateway timeouts at "
        << fixed(100 * run["failRate"].get<double>(), 1) << "% of calls; gateway down for "
        << fixed(run["outageSeconds"].get<double>(), 2) << " s\n\n";

    if (r["run"].value("interrupted", false) && r["accounted"].get<bool>()) {
        out << "interrupted, every payment accounted for (audit by id): " << thousands(r["succeeded"]) << " succeeded + "
            << thousands(r["deadLettered"]) << " dead-lettered + " << thousands(r["queued"]) << " still queued + "
            << thousands(r["held"]) << " held by crashed threads (they come back) = " << thousands(r["produced"])
            << " produced; lost 0\n";
    } else if (r["accounted"].get<bool>()) {
        out << "every payment accounted for (audit by id): " << thousands(r["succeeded"]) << " succeeded + "
            << thousands(r["deadLettered"]) << " dead-lettered = " << thousands(r["produced"]) << " produced; lost 0\n";
    } else {
        out << "NOT every payment accounted for (audit by id): " << thousands(r["succeeded"]) << " succeeded, "
            << thousands(r["deadLettered"]) << " dead-lettered, " << thousands(r["lost"]) << " lost, "
            << thousands(r["inBoth"]) << " both succeeded and dead-lettered, " << thousands(r["deadLetteredTwice"])
            << " dead-lettered more than once, of " << thousands(r["produced"])
            << " produced";
        if (!r["lostSample"].empty()) out << "; lost payments: " << r["lostSample"].dump();
        out << "\n";
    }
    out << "  duplicates: " << thousands(r["duplicates"]) << " payments charged more than once\n";
    out << "  retries by level:";
    for (const auto& level : r["levels"]) {
        if (r["retriesByLevel"].contains(level)) out << "  " << level.get<std::string>() << " " << thousands(r["retriesByLevel"][level]);
    }
    out << "\n";
    out << "  released by the breaker while the gateway was down (not failures: no attempt counted): "
        << thousands(r["released"]) << " times, " << thousands(r["releasedPayments"]) << " payments; breaker openings: "
        << thousands(r["breaker"]["openings"]) << "\n";
    out << "  dead letters by reason:";
    for (const auto& [reason, count] : dead["byReason"].items()) out << "  " << reason << " " << thousands(count);
    out << "  (= " << thousands(dead["total"]) << ")\n";
    out << "  dead letters by cause (fingerprint groups):\n";
    for (const auto& group : dead["groups"]) {
        out << "    " << std::string(std::max<std::size_t>(1, 7 - thousands(group["count"]).size()), ' ')
            << thousands(group["count"]) << "  " << group["fingerprint"].get<std::string>() << "  "
            << group["errorType"].get<std::string>() << ": " << group["sample"].get<std::string>() << "\n";
    }
    const auto& latency = r["latencyMs"];
    const auto& lateness = r["retryLatenessMs"];
    out << "  handler latency p50 " << fixed(latency["p50"].get<double>(), 2) << " ms, p99 "
        << fixed(latency["p99"].get<double>(), 2) << " ms; retry lateness p99 " << fixed(lateness["p99"].get<double>(), 1)
        << " ms (" << thousands(lateness["samples"]) << " retries)\n";
    if (run.value("interrupted", false)) {
        out << "  stopped after " << fixed(run["seconds"].get<double>(), 1) << " s; ";
    } else {
        out << "  " << thousands(r["produced"]) << " payments in " << fixed(run["seconds"].get<double>(), 1) << " s ("
            << thousands(static_cast<std::uint64_t>(run["paymentsPerSecond"].get<double>())) << " payments/s); ";
    }
    out
        << thousands(r["gatewayCalls"]) << " gateway calls; " << thousands(r["crashes"])
        << " deliveries abandoned by a crashed worker thread (each came back after the visibility timeout)\n";
    if (run.contains("redisPrefix") && !run.value("privateRedis", false)) {
        out << "  Redis key prefix " << run["redisPrefix"].get<std::string>()
            << " (kept: failpipe dlq groups --channel payments --redis '" << run.value("redisUrl", std::string{})
            << "' --prefix " << run["redisPrefix"].get<std::string>()
            << (run.value("keyLayout", "prefix") == "groups" ? " --config <the config>" : "") << ")\n";
    }
    for (const auto& problem : r["problems"]) out << "  PROBLEM: " << problem.get<std::string>() << "\n";
    if (r.contains("interruption")) out << "  " << r["interruption"].get<std::string>() << "\n";
    if (r["ok"].get<bool>()) {
        out << "OK\n";
    } else {
        out << (r["problems"].empty() ? "INTERRUPTED (nothing lost)\n" : "FAILED\n");
    }
}

}  // namespace payments
