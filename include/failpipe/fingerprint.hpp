/// @file fingerprint.hpp
/// @brief Fingerprints: ten thousand dead letters read as a handful of causes.
///
/// A fingerprint is a short stable key made of an error's type and its message with the parts that
/// change from one occurrence to the next masked, so `timeout after 3012 ms` and `timeout after
/// 250 ms` fall in one group. The rule, applied left to right over the first
/// kFingerprintMessageBytes bytes of the message:
///
/// | what | becomes | example |
/// | --- | --- | --- |
/// | text in '…', "…" or `…` (a quote that starts after a space, punctuation or the start, and ends before one; at most 256 bytes) | `<str>` | `user 'bob' unknown` → `user <str> unknown` |
/// | a UUID (8-4-4-4-12 hex digits) | `<uuid>` | |
/// | an IPv4 address, with an optional `:port` | `<ip>` | `HTTP 503 from 10.2.3.4` → `HTTP <n> from <ip>` |
/// | `0x` and hex digits; a word of 8 or more hex digits with at least one digit | `<hex>` | `tx 9f86d081884c7d65` → `tx <hex>` |
/// | a run of digits, with an optional decimal part | `<n>` | `order 8812 not found` → `order <n> not found` |
/// | runs of white space | one space (leading and trailing removed) | |
///
/// The fingerprint is the first 16 hex digits of the 64-bit FNV-1a hash of the type, a NUL byte and
/// the normalised message: the same on every machine and in every version of failpipe that keeps
/// this rule. Thread-safe: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace failpipe {

/// @brief How much of an error message counts for its fingerprint (longer messages are cut).
inline constexpr std::size_t kFingerprintMessageBytes = 2048;

/// @brief The error message with its variable parts masked (see the rule above).
std::string normalize_error_message(std::string_view message);

/// @brief The fingerprint of an error: 16 lower-case hex digits.
std::string error_fingerprint(std::string_view error_type, std::string_view error_message);

}  // namespace failpipe
