/// @file channel_suffixes.hpp
/// @brief The suffix of parked channels, and the rule that keeps a dead-letter suffix apart from it.
///
/// Small on purpose: the headers that only need the parked suffix as a default (channel_stats.hpp,
/// shard_groups.hpp, the dashboard's options) include this one instead of dead_letters.hpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace failpipe {

/// @brief The suffix of parked channels (`orders:parked`: dead letters replayed too often rest
/// there). Reserved: a dead-letter suffix may neither be it, end in it nor be its end
/// (dead_letter_suffix_clash), or dead-letter and parked channels could not be told apart.
inline constexpr std::string_view kParkedSuffix = ":parked";

/// @brief Why channels named with @p dead_letter_suffix could not be told apart from those named
/// with @p parked_suffix, or std::nullopt when they can. Channels are told apart by their ends alone,
/// so neither suffix may end the other: `:parked` itself would put dead letters and parked messages
/// in one channel, `-old:parked` would dead-letter `orders` into the parked channel of `orders-old`,
/// and `ed` would make `orders:parked` the dead letters of `orders:park`. The text reads after
/// "expected" (`a suffix other than ":parked", the suffix of parked channels (...)`). An empty
/// suffix is not judged here (the config reader and the dispatcher refuse it on their own).
/// The config reader (`deadLetterSuffix`) and the DeadLetters constructor both apply it.
std::optional<std::string> dead_letter_suffix_clash(std::string_view dead_letter_suffix,
                                                    std::string_view parked_suffix = kParkedSuffix);

}  // namespace failpipe
