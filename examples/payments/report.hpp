// The end of the run: an audit by id of every payment produced, and the report (text or JSON).
#pragma once

#include <failpipe/adapter.hpp>

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "simulation.hpp"
#include "tally.hpp"

namespace payments {

/// Where every produced payment ended, found by id: the payments the handler charged (its own
/// record) and the payments found in the dead-letter channels, compared as sets with the payments
/// produced. No counter is subtracted from another.
struct Audit {
    std::size_t produced = 0;
    std::size_t succeeded = 0;        ///< payments charged at least once
    std::size_t dead_lettered = 0;    ///< payments found in a dead-letter channel
    std::size_t lost = 0;             ///< produced, neither charged nor dead-lettered (nor queued, nor held)
    std::size_t queued = 0;           ///< still waiting on a level (only after an interrupted run)
    std::size_t held = 0;             ///< held by crashed threads at the end, by count: they come back
    std::size_t in_both = 0;          ///< charged AND dead-lettered
    std::size_t duplicates = 0;       ///< payments charged more than once
    std::size_t dead_twice = 0;       ///< payments found more than once in the dead letters
    std::vector<std::size_t> lost_sample;  ///< the first lost payment numbers
    std::size_t dead_letter_entries = 0;   ///< every message in the dead-letter channels
    std::size_t foreign_dead_letters = 0;  ///< entries that are no payment of this run (e.g. injected)
    std::map<std::string, std::size_t> by_reason;   ///< reason → entries
    std::map<std::string, std::size_t> by_channel;  ///< dead-letter channel → entries
    struct Group {
        std::string fingerprint, error_type, sample;
        std::size_t count = 0;
    };
    std::vector<Group> groups;  ///< by fingerprint (DeadLetters::groups), largest first

    bool accounted() const noexcept {
        return lost == 0 && in_both == 0 && dead_twice == 0 && succeeded + dead_lettered + queued + held == produced;
    }
};

/// Reads the dead-letter channels of @p levels and compares with @p tally.
/// With @p include_queued (a run that stopped early), the payments still waiting on a level are
/// found by id too, and the deliveries crashed threads hold are counted.
Audit audit(failpipe::AdapterInterface& adapter, const std::vector<std::string>& levels, const Tally& tally,
            const Scenario& scenario, const std::string& dead_letter_suffix, bool include_queued = false);

/// Prints @p report (as built by main) for a person.
void print_report(const nlohmann::json& report, std::ostream& out);

}  // namespace payments
