/// @file dead_letter_filter.hpp
/// @brief DeadLetterFilter: which dead letters an operation of DeadLetters applies to.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "failpipe/clock.hpp"

namespace failpipe {

/// @brief Selects dead letters by the fields of their failure record (metadata `failpipe-dead-letter`).
/// Every field set must match (AND); an empty field matches everything. A dead letter without a
/// record (or with a field missing) matches only the filters left empty.
struct DeadLetterFilter {
    /// The working channel whose dead letters are meant: `orders` reads `orders:dlq` (the suffix is
    /// DeadLetters::Options::dead_letter_suffix). A name that already ends with the dead-letter or the
    /// parked suffix (`orders:dlq`, `orders:parked`) is read as it is. Required.
    std::string channel;
    std::string error_type;   ///< Exactly the record's `errorType` (e.g. `std::runtime_error`).
    std::string reason;       ///< Exactly `reason`: `failure`, `poison`, `max-deliveries`, `pipeline-error`, `expired`.
    std::string error_class;  ///< Exactly `errorClass`: `transient`, `permanent`, `unknown`.
    std::string fingerprint;  ///< The group: `fingerprint`, or error_fingerprint(errorType, errorMessage) when absent.
    /// An ECMAScript regular expression searched in the first Classifier::kMessagePrefix bytes of
    /// `errorMessage`, under the limits of message_pattern_problem(). A pattern that does not compile
    /// or is beyond those limits is an InvalidArgumentError.
    std::string grep;
    std::optional<TimePoint> since;  ///< The record's `time` is at or after this (records without a time do not match).
    std::optional<TimePoint> until;  ///< The record's `time` is before this (records without a time do not match).
    /// Only the dead letters with these ids (the dashboard's "replay selected"); empty matches any id.
    std::vector<std::string> ids;
};

}  // namespace failpipe
