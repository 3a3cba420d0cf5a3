// The rule that keeps a dead-letter suffix apart from the parked suffix (channel_suffixes.hpp).
#include "failpipe/channel_suffixes.hpp"

#include <nlohmann/json.hpp>

#include "config_json.hpp"

namespace failpipe {

std::optional<std::string> dead_letter_suffix_clash(std::string_view dead_letter_suffix, std::string_view parked_suffix) {
    using nlohmann::json;
    using detail::describe;
    const std::string suffix(dead_letter_suffix), parked(parked_suffix);
    if (suffix.empty() || parked.empty()) return std::nullopt;
    const std::string what = describe(json(parked)) + ", the suffix of parked channels";
    if (suffix == parked) return "a suffix other than " + what + " (dead letters and parked messages could not be told apart)";
    if (suffix.ends_with(parked))
        return "a suffix that does not end in " + what + " (the dead letters of \"orders\" would go to " +
               describe(json("orders" + suffix)) + ", the parked channel of " +
               describe(json("orders" + suffix.substr(0, suffix.size() - parked.size()))) + ")";
    if (parked.ends_with(suffix))
        return "a suffix that is not the end of " + what + " (" + describe(json("orders" + parked)) +
               ", the parked channel of \"orders\", would also be the dead-letter channel of " +
               describe(json("orders" + parked.substr(0, parked.size() - suffix.size()))) + ")";
    return std::nullopt;
}

}  // namespace failpipe
