#include "duration.hpp"

#include "args.hpp"
#include "duration_text.hpp"

namespace failpipe::cli {
namespace {

// The library's refusal, as the command's usage error (exit 2), in the same words.
template <class Read>
double usage_error_of(Read read) {
    try {
        return read();
    } catch (const InvalidArgumentError& e) {
        throw UsageError(e.what());
    }
}

}  // namespace

double parse_duration(std::string_view text, std::string_view what) {
    return usage_error_of([&] { return detail::parse_duration(text, what, quote); });
}

double parse_ttl(std::string_view text, std::string_view what) {
    return usage_error_of([&] { return detail::parse_time_to_live(text, what, quote); });
}

}  // namespace failpipe::cli
