#include "failpipe/dead_letters.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <regex>
#include <set>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "failpipe/classifier.hpp"
#include "failpipe/config.hpp"
#include "failpipe/fingerprint.hpp"
#include "config_json.hpp"
#include "dead_letter_time.hpp"
#include "failpipe/metadata_keys.hpp"
#include "logging.hpp"
#include "metadata.hpp"

namespace failpipe {
namespace detail {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
    return !suffix.empty() && text.size() >= suffix.size() &&
           text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string text_of(const nlohmann::json& object, const char* key) {
    if (!object.is_object()) return {};
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

long long replays_of(const Message& message) {
    if (!message.metadata.is_object()) return 0;
    const auto it = message.metadata.find(std::string(metadata_keys::replays));
    return it == message.metadata.end() ? 0 : to_count(&*it);
}

/// The compiled `grep` of a filter, bounded as the classifier's message patterns are.
class MessageMatcher {
public:
    explicit MessageMatcher(const std::string& pattern) {
        if (pattern.empty()) return;
        const std::string shown = pattern.size() <= 60 ? pattern : pattern.substr(0, 60) + "... (truncated)";
        if (auto problem = message_pattern_problem(pattern))
            throw InvalidArgumentError("dead-letter filter grep \"" + shown + "\" refused: it " + *problem);
        try {
            std::regex check(pattern, std::regex::ECMAScript);  // alone first: `a)|(b` is an error
            // The polynomial matcher and one continuous pass, as Classifier::add_message_pattern does.
            regex_ = std::make_shared<std::regex>("[\\s\\S]*?(?:" + pattern + ")",
                                                  std::regex::ECMAScript | std::regex_constants::__polynomial);
        } catch (const std::regex_error& e) {
            throw InvalidArgumentError("dead-letter filter grep \"" + shown + "\" is not a valid regular expression: " +
                                       e.what());
        }
    }
    bool matches(const std::string& text) const {
        if (!regex_) return true;
        const auto end = text.size() > Classifier::kMessagePrefix ? text.begin() + Classifier::kMessagePrefix : text.end();
        try {
            return std::regex_search(text.begin(), end, *regex_, std::regex_constants::match_continuous);
        } catch (const std::exception&) {
            return false;  // a matcher error (its own complexity bound) is no match
        }
    }

private:
    std::shared_ptr<std::regex> regex_;
};

/// Stops an operation between two messages: at its deadline (Options::scan_timeout, for an
/// operation that only reads) or once Options::stop says so.
class ScanWatch {
public:
    ScanWatch(const DeadLetters::Options& options, std::string channel, bool bounded)
        : stop_(options.stop), channel_(std::move(channel)) {
        if (bounded && options.scan_timeout) {
            timeout_ = *options.scan_timeout;
            deadline_ = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            Seconds{std::clamp(timeout_.count(), 0.0, 1e9)});
        }
    }
    /// Before reading one more message.
    void operator()() {
        if (stop_ && stop_())
            throw DeadLetterScanStopped(DeadLetterScanStopped::Why::stopped, read_,
                                        "the scan of " + channel_ + " was stopped after reading " + std::to_string(read_) +
                                            " messages");
        if (deadline_ && std::chrono::steady_clock::now() >= *deadline_)
            throw DeadLetterScanStopped(DeadLetterScanStopped::Why::deadline, read_,
                                        fmt::format("the scan of {} stopped at its deadline ({:g} s) after reading {} messages",
                                                    channel_, timeout_.count(), read_));
        ++read_;
    }

private:
    const std::function<bool()>& stop_;
    std::string channel_;
    Seconds timeout_{0.0};
    std::optional<std::chrono::steady_clock::time_point> deadline_;
    std::size_t read_ = 0;
};

/// A filter checked once and ready to apply.
class Selector {
public:
    explicit Selector(const DeadLetterFilter& filter)
        : filter_(filter), grep_(filter.grep), ids_(filter.ids.begin(), filter.ids.end()) {
        if (filter.channel.empty()) throw InvalidArgumentError("dead-letter filter: a channel is required");
        if (filter.since && filter.until && *filter.until <= *filter.since)
            throw InvalidArgumentError("dead-letter filter: `until` must be later than `since`");
    }
    /// Every dead letter of the channel matches: its depth counts them, no scan needed.
    bool selects_all() const {
        return filter_.error_type.empty() && filter_.reason.empty() && filter_.error_class.empty() &&
               filter_.fingerprint.empty() && filter_.grep.empty() && !filter_.since && !filter_.until && ids_.empty();
    }
    bool matches(const DeadLetter& letter) const {
        auto same = [](const std::string& wanted, const std::string& value) { return wanted.empty() || wanted == value; };
        if (!ids_.empty() && ids_.count(letter.id) == 0) return false;
        if (!same(filter_.error_type, letter.error_type) || !same(filter_.reason, letter.reason) ||
            !same(filter_.error_class, letter.error_class) || !same(filter_.fingerprint, letter.fingerprint))
            return false;
        if ((filter_.since || filter_.until) && !letter.time_point) return false;
        if (filter_.since && *letter.time_point < *filter_.since) return false;
        if (filter_.until && *letter.time_point >= *filter_.until) return false;
        return grep_.matches(letter.error_message);
    }

private:
    const DeadLetterFilter& filter_;
    MessageMatcher grep_;
    std::unordered_set<std::string> ids_;
};

/// What a page visitor reports back to scan_pages.
struct PageOutcome {
    std::size_t gone = 0;  ///< Messages of the page that left the channel (the next page starts earlier by that much).
    bool stop = false;
};

/// An adapter that forwards capabilities() but not browse_after pages by the default's offset
/// cursor `o:<n>` (InspectionAdapter::browse_after): what the visitor removed shifts it back.
BrowseCursor after_removal(BrowseCursor cursor, std::size_t gone) {
    std::size_t offset = 0;
    if (!cursor.starts_with("o:")) return cursor;
    const auto [end, ec] = std::from_chars(cursor.data() + 2, cursor.data() + cursor.size(), offset);
    if (ec != std::errc{}) return cursor;
    return "o:" + std::to_string(offset - std::min(offset, gone));
}

/// Browses @p channel page by page, at most @p bound messages in all (the channel's size when the
/// scan began, so what arrives meanwhile — a replayed message failing again — is left for later).
/// With Capability::browse_cursor it pages by cursor: one linear pass, each page O(page), and what
/// the visitor removes shifts nothing. Otherwise by offset: a browse may cost its offset, so
/// read-only scans, whose offset grows, read larger pages (@p page_size) than scans that move what
/// they read away, and the next page starts earlier by what the visitor removed.
template <class Visit>
void scan_pages(InspectionAdapter& adapter, const std::string& channel, std::size_t bound, std::size_t page_size,
                Visit&& visit) {
    std::size_t seen = 0;
    if (adapter.capabilities().has(Capability::browse_cursor)) {
        BrowseCursor cursor;
        while (seen < bound) {
            BrowsePage page = adapter.browse_after(channel, cursor, std::min(page_size, bound - seen));
            if (page.messages.empty()) return;
            seen += page.messages.size();
            cursor = std::move(page.next);
            const PageOutcome outcome = visit(std::move(page.messages));
            if (outcome.stop || page.end) return;
            if (outcome.gone > 0) cursor = after_removal(std::move(cursor), outcome.gone);
        }
        return;
    }
    std::size_t offset = 0;
    while (seen < bound) {
        const std::size_t want = std::min(page_size, bound - seen);
        std::vector<Message> page = adapter.browse(channel, offset, want);
        if (page.empty()) return;
        seen += page.size();
        const std::size_t size = page.size();
        const PageOutcome outcome = visit(std::move(page));
        if (outcome.stop || size < want) return;
        offset += size - std::min(outcome.gone, size);
    }
}

std::size_t channel_size(InspectionAdapter& adapter, const std::string& channel) {
    const ChannelDepth depth = adapter.depth(channel);
    return depth.ready + depth.delayed;
}

void check_limit(const std::optional<std::size_t>& limit, const char* operation) {
    if (limit && *limit == 0) throw InvalidArgumentError(std::string(operation) + ": limit must be at least 1");
}

void check_rate(const std::optional<double>& rate) {
    if (!rate) return;
    if (!std::isfinite(*rate) || *rate <= 0.0 || *rate > DeadLetters::kMaxRate) {
        char shown[64];
        std::snprintf(shown, sizeof shown, "%g", *rate);
        throw InvalidArgumentError(std::string("replay: rate must be a number of messages per second above 0 and at most ") +
                                   "1000000, not " + shown);
    }
}

/// Paces a replay: after `done` messages, at least done / rate seconds have passed since the start.
class Pacer {
public:
    explicit Pacer(std::optional<double> rate) : rate_(rate), start_(std::chrono::steady_clock::now()) {}
    std::size_t chunk_size() const {
        if (!rate_) return DeadLetters::kPageSize;
        return std::clamp<std::size_t>(static_cast<std::size_t>(std::ceil(*rate_ / 20.0)), 1, DeadLetters::kPageSize);
    }
    void wait_after(std::size_t done) const {
        if (!rate_) return;
        const auto due = start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                      Seconds{static_cast<double>(done) / *rate_});
        std::this_thread::sleep_until(due);
    }

private:
    std::optional<double> rate_;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace

void check_filter_grep(const std::string& pattern) { MessageMatcher check(pattern); }

}  // namespace detail

DeadLetters::DeadLetters(std::shared_ptr<InspectionAdapter> adapter) : DeadLetters(std::move(adapter), Options{}) {}

DeadLetters::DeadLetters(std::shared_ptr<InspectionAdapter> adapter, Options options)
    : adapter_(std::move(adapter)), options_(std::move(options)) {
    if (!adapter_) throw InvalidArgumentError("DeadLetters: the adapter is null");
    if (!options_.clock) options_.clock = std::make_shared<SystemClock>();
    if (options_.parked_suffix.empty()) throw InvalidArgumentError("DeadLetters: the parked suffix is empty");
    // The config reader's rule: channels are told apart by their ends, so neither suffix may end the other.
    if (auto clash = dead_letter_suffix_clash(options_.dead_letter_suffix, options_.parked_suffix))
        throw InvalidArgumentError("DeadLetters: the dead-letter suffix " + detail::quote_json(options_.dead_letter_suffix) +
                                   " clashes with the parked suffix: expected " + *clash);
}

void DeadLetters::need(std::initializer_list<Capability> capabilities, std::string_view who) const {
    require_capabilities(adapter_->capabilities(), capabilities, who);
}

void DeadLetters::require_retention_capabilities(const InspectionAdapter& adapter, std::string_view who) {
    require_capabilities(adapter.capabilities(), {Capability::depth, Capability::browse, Capability::evict}, who);
}

std::string DeadLetters::dead_letter_channel(const std::string& channel) const {
    if (channel.empty() || options_.dead_letter_suffix.empty() || detail::ends_with(channel, options_.dead_letter_suffix) ||
        detail::ends_with(channel, options_.parked_suffix))
        return channel;
    return channel + options_.dead_letter_suffix;
}

std::string DeadLetters::parked_channel(const std::string& channel) const {
    std::string base = channel;
    if (detail::ends_with(base, options_.parked_suffix)) return base;
    if (detail::ends_with(base, options_.dead_letter_suffix)) base.resize(base.size() - options_.dead_letter_suffix.size());
    return base + options_.parked_suffix;
}

namespace {

DeadLetter read_dead_letter(Message message, const std::string& channel, const std::string& dead_letter_suffix,
                            const std::string& parked_suffix) {
    DeadLetter letter;
    letter.id = message.id;
    letter.channel = channel;
    letter.undecodable = message.data.is_binary() && message.metadata.is_object() &&
                         message.metadata.contains("failpipe-decode-error");
    letter.replays = detail::replays_of(message);
    static const nlohmann::json kNone = nlohmann::json::object();
    const nlohmann::json* record = &kNone;
    if (message.metadata.is_object()) {
        const auto it = message.metadata.find(std::string(metadata_keys::dead_letter));
        if (it != message.metadata.end() && it->is_object()) record = &*it;
    }
    letter.reason = detail::text_of(*record, "reason");
    letter.error_type = detail::text_of(*record, "errorType");
    letter.error_message = detail::text_of(*record, "errorMessage");
    letter.error_class = detail::text_of(*record, "errorClass");
    letter.fingerprint = detail::text_of(*record, "fingerprint");
    if (letter.fingerprint.empty()) letter.fingerprint = error_fingerprint(letter.error_type, letter.error_message);
    letter.time = detail::text_of(*record, "time");
    letter.time_point = detail::parse_iso8601_utc(letter.time);
    if (const auto it = record->find("attempts"); it != record->end()) letter.attempts = detail::to_count(&*it);
    letter.original_channel = detail::text_of(*record, "originalChannel");
    if (letter.original_channel.empty()) letter.original_channel = detail::text_of(*record, "channel");
    if (letter.original_channel.empty()) {
        letter.original_channel = channel;
        for (const auto* suffix : {&dead_letter_suffix, &parked_suffix}) {
            if (detail::ends_with(channel, *suffix)) {
                letter.original_channel.resize(channel.size() - suffix->size());
                break;
            }
        }
    }
    letter.message = std::move(message);
    return letter;
}

}  // namespace

DeadLetterPage DeadLetters::list(const DeadLetterFilter& filter, std::size_t offset, std::size_t limit) const {
    if (limit == 0 || limit > kMaxListLimit)
        throw InvalidArgumentError("list: limit must be between 1 and " + std::to_string(kMaxListLimit) + ", not " +
                                   std::to_string(limit) + " (page with offset)");
    need({Capability::browse}, "DeadLetters::list");
    const detail::Selector selector(filter);
    const std::string channel = dead_letter_channel(filter.channel);
    DeadLetterPage result;
    std::size_t to_skip = offset;
    // One page when nothing is filtered out; never more than kScanPageSize messages in memory.
    const std::size_t page_size = std::clamp<std::size_t>(offset + limit + 1, 100, kScanPageSize);
    detail::ScanWatch watch(options_, channel, true);
    detail::scan_pages(*adapter_, channel, static_cast<std::size_t>(-1), page_size, [&](std::vector<Message> page) {
        for (auto& message : page) {
            watch();
            DeadLetter letter = read_dead_letter(std::move(message), channel, options_.dead_letter_suffix, options_.parked_suffix);
            if (!selector.matches(letter)) continue;
            if (to_skip > 0) {
                --to_skip;
                continue;
            }
            if (result.items.size() == limit) {
                result.more = true;
                return detail::PageOutcome{0, true};
            }
            result.items.push_back(std::move(letter));
        }
        return detail::PageOutcome{};
    });
    return result;
}

DeadLetterPage DeadLetters::list_after(const DeadLetterFilter& filter, const BrowseCursor& after, std::size_t limit) const {
    if (limit == 0 || limit > kMaxListLimit)
        throw InvalidArgumentError("list: limit must be between 1 and " + std::to_string(kMaxListLimit) + ", not " +
                                   std::to_string(limit));
    need({Capability::browse}, "DeadLetters::list");
    const detail::Selector selector(filter);
    const std::string channel = dead_letter_channel(filter.channel);
    DeadLetterPage result;
    result.next = after;
    BrowseCursor cursor = after;
    // Unfiltered, a page asks for exactly what is still wanted, so the page that fills the list ends
    // at its last item and its cursor is the list's. Filtered, pages are large, and when one fills
    // the list before its end, the cursor after the last item is asked for (that prefix again).
    // Once full, one more match is looked for, to tell `more`.
    const bool every = selector.selects_all();
    detail::ScanWatch watch(options_, channel, true);
    for (;;) {
        const bool full = result.items.size() == limit;
        const std::size_t want = full || !every ? kScanPageSize : limit - result.items.size();
        BrowsePage page = adapter_->browse_after(channel, cursor, want);
        for (std::size_t i = 0; i < page.messages.size(); ++i) {
            watch();
            DeadLetter letter =
                read_dead_letter(std::move(page.messages[i]), channel, options_.dead_letter_suffix, options_.parked_suffix);
            if (!selector.matches(letter)) continue;
            if (result.items.size() == limit) {
                result.more = true;
                return result;
            }
            result.items.push_back(std::move(letter));
            if (result.items.size() == limit)
                result.next = i + 1 < page.messages.size() ? adapter_->browse_after(channel, cursor, i + 1).next : page.next;
        }
        if (result.items.size() < limit) result.next = page.next;
        cursor = std::move(page.next);
        if (page.end || page.messages.empty()) return result;
    }
}

DeadLetter DeadLetters::show(const std::string& channel, const std::string& id) const {
    if (id.empty()) throw InvalidArgumentError("show: the id is empty");
    const std::string where = dead_letter_channel(channel);
    if (where.empty()) throw InvalidArgumentError("show: a channel is required");
    need({Capability::status, Capability::browse}, "DeadLetters::show");
    const MessageStatus status = adapter_->status(id);
    if (status.state == MessageState::not_found)
        throw DeadLetterNotFoundError("no message with id " + id + " (unknown id, or handled and forgotten)");
    if (status.channel != where)
        throw DeadLetterNotFoundError("message " + id + " is not a dead letter of " + where + ": it is " +
                                      std::string(to_string(status.state)) + " in " + status.channel);
    if (status.state == MessageState::reserved)
        throw DeadLetterNotFoundError("dead letter " + id + " is held by a worker right now; try again");
    std::optional<DeadLetter> found;
    detail::ScanWatch watch(options_, where, true);
    detail::scan_pages(*adapter_, where, static_cast<std::size_t>(-1), DeadLetters::kScanPageSize, [&](std::vector<Message> page) {
        for (auto& message : page) {
            watch();
            if (message.id != id) continue;
            found = read_dead_letter(std::move(message), where, options_.dead_letter_suffix, options_.parked_suffix);
            return detail::PageOutcome{0, true};
        }
        return detail::PageOutcome{};
    });
    if (!found) throw DeadLetterNotFoundError("dead letter " + id + " left " + where + " while it was being read");
    return std::move(*found);
}

std::vector<DeadLetterGroup> DeadLetters::groups(const DeadLetterFilter& filter) const {
    need({Capability::browse}, "DeadLetters::groups");
    const detail::Selector selector(filter);
    const std::string channel = dead_letter_channel(filter.channel);
    std::unordered_map<std::string, DeadLetterGroup> by_key;
    std::unordered_map<std::string, std::pair<TimePoint, TimePoint>> seen;  // first and last, by fingerprint
    detail::ScanWatch watch(options_, channel, true);
    detail::scan_pages(*adapter_, channel, static_cast<std::size_t>(-1), DeadLetters::kScanPageSize, [&](std::vector<Message> page) {
        for (auto& message : page) {
            watch();
            const DeadLetter letter = read_dead_letter(std::move(message), channel, options_.dead_letter_suffix, options_.parked_suffix);
            if (!selector.matches(letter)) continue;
            DeadLetterGroup& group = by_key[letter.fingerprint];
            if (group.count++ == 0) {
                group.fingerprint = letter.fingerprint;
                group.sample_id = letter.id;
                group.error_type = letter.error_type;
                group.sample_message = letter.error_message.substr(0, 1024);
            }
            // Compared as times: `10:00:00.5Z` is later than `10:00:00Z` though it sorts before it as text.
            if (letter.time_point) {
                const TimePoint at = *letter.time_point;
                const bool first = group.first_seen.empty();
                auto& [earliest, latest] = seen[letter.fingerprint];
                if (first || at < earliest) earliest = at, group.first_seen = letter.time;
                if (first || at > latest) latest = at, group.last_seen = letter.time;
            }
        }
        return detail::PageOutcome{};
    });
    std::vector<DeadLetterGroup> out;
    out.reserve(by_key.size());
    for (auto& entry : by_key) out.push_back(std::move(entry.second));
    std::sort(out.begin(), out.end(), [](const DeadLetterGroup& a, const DeadLetterGroup& b) {
        return a.count != b.count ? a.count > b.count : a.fingerprint < b.fingerprint;
    });
    return out;
}

std::size_t DeadLetters::count(const DeadLetterFilter& filter) const { return count_matching(filter, true); }

std::size_t DeadLetters::count_matching(const DeadLetterFilter& filter, bool bounded) const {
    need({Capability::browse}, "DeadLetters::count");
    const detail::Selector selector(filter);
    const std::string channel = dead_letter_channel(filter.channel);
    if (selector.selects_all() && adapter_->capabilities().has(Capability::depth)) return detail::channel_size(*adapter_, channel);
    std::size_t matched = 0;
    detail::ScanWatch watch(options_, channel, bounded);
    detail::scan_pages(*adapter_, channel, static_cast<std::size_t>(-1), DeadLetters::kScanPageSize, [&](std::vector<Message> page) {
        for (auto& message : page) {
            watch();
            if (selector.matches(read_dead_letter(std::move(message), channel, options_.dead_letter_suffix, options_.parked_suffix)))
                ++matched;
        }
        return detail::PageOutcome{};
    });
    return matched;
}

DeadLetterCounts DeadLetters::counts(const std::string& channel) const {
    if (channel.empty()) throw InvalidArgumentError("counts: a channel is required");
    need({Capability::depth}, "DeadLetters::counts");
    DeadLetterCounts counts;
    counts.dead_letter_channel = dead_letter_channel(channel);
    counts.parked_channel = parked_channel(channel);
    counts.dead = adapter_->depth(counts.dead_letter_channel).total();
    counts.parked = counts.parked_channel == counts.dead_letter_channel ? counts.dead
                                                                          : adapter_->depth(counts.parked_channel).total();
    return counts;
}

namespace {

/// Where one dead letter goes in a replay, chosen from what browse showed; the rewrite checks the
/// choice again on the message as the move sees it, so a message that changed meanwhile is skipped.
/// A refused one (its origin is not trusted) goes nowhere: `refused` says why.
struct Route {
    std::string to;
    bool park = false;
    std::string refused;
    bool operator<(const Route& other) const {
        return std::tie(park, to, refused) < std::tie(other.park, other.to, other.refused);
    }
    bool operator==(const Route& other) const = default;
};

/// The decisions of one replay, copied into each rewrite (which may outlive nothing but must not
/// reach back into the caller's frame).
struct ReplayPlan {
    std::string source;
    std::string dead_letter_suffix;
    std::string parked_suffix;
    std::optional<std::string> to;
    long long max_replays = 0;
    bool from_parked = false;
    bool keep_attempts = false;
    std::string home;  ///< The working channel of `source`: its dead letters' own origin.
    std::shared_ptr<const std::set<std::string>> known;  ///< Other origins trusted (never dead-letter or parked ones).

    DeadLetter read(Message message) const {
        return read_dead_letter(std::move(message), source, dead_letter_suffix, parked_suffix);
    }
    /// Why @p origin is no channel to send a dead letter back to, if it is not.
    std::optional<std::string> origin_refusal(const std::string& origin) const {
        if (origin == home) return std::nullopt;
        // Written by anyone: quoted, and cut so a forged megabyte does not become the reason.
        const std::string shown = detail::quote_json(detail::cut_utf8(origin, 200));
        if (detail::ends_with(origin, dead_letter_suffix) || detail::ends_with(origin, parked_suffix))
            return "its origin " + shown + " is a dead-letter or parked channel";
        if (known->count(origin)) return std::nullopt;
        return "its origin " + shown +
               " is not a channel this deployment knows (not " + detail::quote_json(home) +
               ", none of the broker's channels, no configured pipeline or worker channel): anyone who pushes a "
               "message can write its origin; replay it to a channel you name if you trust it";
    }
    Route route_of(const DeadLetter& letter) const {
        const auto refusal = origin_refusal(letter.original_channel);
        if (refusal && !to) return Route{{}, false, *refusal};
        // Parked under its origin when that is trusted, else under the channel it was replayed from.
        const std::string& base = refusal ? home : letter.original_channel;
        if (!from_parked && letter.replays >= max_replays) return Route{base + parked_suffix, true, {}};
        return Route{to ? *to : letter.original_channel, false, {}};
    }
    MessageRewrite rewrite_for(const Route& route) const {
        return [plan = *this, route](Message& message) {
            const DeadLetter now = plan.read(message);
            if (const Route current = plan.route_of(now); current != route)
                throw Error("it changed while the replay read it (now " +
                            (current.refused.empty() ? "for " + current.to : std::string("refused")) +
                            "); run the replay again");
            if (route.park) return;  // parked as it is, record and counters included
            if (!message.metadata.is_object()) message.metadata = nlohmann::json::object();
            if (!plan.keep_attempts) {
                message.metadata.erase(std::string(metadata_keys::failure));
                message.metadata.erase(std::string(metadata_keys::dead_letter));
            }
            // A replay is a new start: the dead-letter loop bound counts from here.
            message.metadata.erase(std::string(metadata_keys::dead_letter_hops));
            message.metadata[std::string(metadata_keys::replays)] = now.replays + 1;
        };
    }
};

void check_replay_target(const std::optional<std::string>& to, const std::string& source, const DeadLetters::Options& options) {
    if (!to) return;
    if (to->empty()) throw InvalidArgumentError("replay: `to` is empty");
    if (detail::ends_with(*to, options.dead_letter_suffix) || detail::ends_with(*to, options.parked_suffix) || *to == source)
        throw InvalidArgumentError("replay: `to` " + *to + " is a dead-letter or parked channel; replay into a working channel");
}

/// @p source without its dead-letter or parked suffix.
std::string working_channel_of(const std::string& source, const DeadLetters::Options& options) {
    for (const auto* suffix : {&options.dead_letter_suffix, &options.parked_suffix}) {
        if (detail::ends_with(source, *suffix)) return source.substr(0, source.size() - suffix->size());
    }
    return source;
}

/// The origins a replay trusts besides the working channel: the caller's and the broker's channels.
std::shared_ptr<const std::set<std::string>> trusted_origins(InspectionAdapter& adapter, const DeadLetters::Options& options) {
    auto known = std::make_shared<std::set<std::string>>(options.known_channels.begin(), options.known_channels.end());
    if (adapter.capabilities().has(Capability::channels)) {
        for (auto& channel : adapter.channels()) known->insert(std::move(channel));
    }
    return known;
}

}  // namespace

std::vector<std::string> configured_channels(const FailureMiddlewareDispatcher::Options& pipelines,
                                             const std::vector<std::string>& worker_channels) {
    std::set<std::string> channels(worker_channels.begin(), worker_channels.end());
    auto add_targets = [&](const std::string& channel, const FailurePipeline& pipeline) {
        for (const auto& middleware : pipeline) {
            const auto targets = middleware ? middleware->targets(pipelines.dead_letter_suffix) : std::nullopt;
            for (const auto& target : targets.value_or(std::vector<MiddlewareTarget>{})) {
                if (!target.dead_letter && !target.channel.empty()) channels.insert(target.resolve(channel));
            }
        }
    };
    add_targets({}, pipelines.default_pipeline);
    for (const auto& [channel, pipeline] : pipelines.pipelines) {
        channels.insert(channel);
        add_targets(channel, pipeline);
    }
    return {channels.begin(), channels.end()};
}

std::vector<std::string> configured_channels(const Config& config) {
    return configured_channels(config.dispatcher, config.worker.channels);
}

ReplayResult DeadLetters::replay(const DeadLetterFilter& filter, const ReplayOptions& options) const {
    const detail::Selector selector(filter);
    detail::check_limit(options.limit, "replay");
    detail::check_rate(options.rate);
    ReplayPlan plan{dead_letter_channel(filter.channel),
                    options_.dead_letter_suffix,
                    options_.parked_suffix,
                    options.to,
                    static_cast<long long>(std::min<std::size_t>(options.max_replays, std::size_t{1} << 62)),
                    detail::ends_with(dead_letter_channel(filter.channel), options_.parked_suffix),
                    options.keep_attempts,
                    working_channel_of(dead_letter_channel(filter.channel), options_),
                    nullptr};
    check_replay_target(options.to, plan.source, options_);
    if (options.dry_run) need({Capability::depth, Capability::browse}, "DeadLetters::replay (dry run)");
    else need({Capability::depth, Capability::browse, Capability::move}, "DeadLetters::replay");
    plan.known = trusted_origins(*adapter_, options_);
    const std::string& source = plan.source;
    const std::size_t limit = options.limit.value_or(static_cast<std::size_t>(-1));
    const std::size_t bound = detail::channel_size(*adapter_, source);

    std::size_t total = 0;
    if (options.progress) {
        total = std::min(limit, selector.selects_all() ? bound : count_matching(filter, options.dry_run));
        options.progress(0, total);
    }

    ReplayResult result;
    result.dry_run = options.dry_run;
    const detail::Pacer pacer(options.dry_run ? std::nullopt : options.rate);
    std::size_t done = 0;
    const std::size_t chunk = pacer.chunk_size();
    detail::ScanWatch watch(options_, source, options.dry_run);
    detail::scan_pages(*adapter_, source, bound, options.dry_run ? kScanPageSize : kPageSize, [&](std::vector<Message> page) {
        detail::PageOutcome outcome;
        std::map<Route, std::vector<std::string>> routes;
        for (auto& message : page) {
            if (result.matched == limit) {
                outcome.stop = true;
                break;
            }
            watch();
            const DeadLetter letter = plan.read(std::move(message));
            if (!selector.matches(letter)) continue;
            ++result.matched;
            if (letter.undecodable) {
                result.skipped.push_back(MoveSkip{letter.id, MoveSkipReason::undecodable,
                                                  "its bytes are not a message; inspect it and purge it"});
                continue;
            }
            Route route = plan.route_of(letter);
            if (!route.refused.empty()) {
                result.refused.push_back(ReplayRefusal{letter.id, letter.original_channel, std::move(route.refused)});
                continue;
            }
            routes[std::move(route)].push_back(letter.id);
        }
        for (const auto& [route, ids] : routes) {
            auto& into = route.park ? result.parked : result.replayed;
            if (options.dry_run) {
                into.insert(into.end(), ids.begin(), ids.end());
                continue;
            }
            const MessageRewrite rewrite = plan.rewrite_for(route);
            for (std::size_t first = 0; first < ids.size(); first += chunk) {
                const std::vector<std::string> part(ids.begin() + static_cast<std::ptrdiff_t>(first),
                                                    ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), first + chunk)));
                MoveResult moved = adapter_->move(source, route.to, part, rewrite);
                outcome.gone += moved.moved.size();
                into.insert(into.end(), moved.moved.begin(), moved.moved.end());
                for (auto& skip : moved.skipped) {
                    if (skip.reason == MoveSkipReason::not_found) ++outcome.gone;
                    result.skipped.push_back(std::move(skip));
                }
                done += part.size();
                if (options.progress) options.progress(done, std::max(total, done));
                pacer.wait_after(done);
            }
        }
        return outcome;
    });
    if (options.to && !result.replayed.empty()) result.through_outbox = adapter_->outbox_of_move(source, *options.to);
    return result;
}

PurgeResult DeadLetters::purge(const DeadLetterFilter& filter, const PurgeOptions& options) const {
    return remove_matching(filter, options, false);
}

// Purge and retention share the scan: retention evicts (removes and counts) instead of removing.
PurgeResult DeadLetters::remove_matching(const DeadLetterFilter& filter, const PurgeOptions& options, bool evict) const {
    detail::check_limit(options.limit, "purge");
    if (evict) need({Capability::depth, Capability::browse, Capability::evict}, "DeadLetters::enforce_retention");
    else if (options.dry_run) need({Capability::depth, Capability::browse}, "DeadLetters::purge (dry run)");
    else need({Capability::depth, Capability::browse, Capability::remove}, "DeadLetters::purge");
    DeadLetterFilter narrowed = filter;
    if (options.older_than) {
        if (!std::isfinite(options.older_than->count()) || options.older_than->count() < 0.0)
            throw InvalidArgumentError("purge: older_than must be a duration of 0 or more");
        const TimePoint cutoff = options_.clock->now() - std::chrono::duration_cast<TimePoint::duration>(*options.older_than);
        if (!narrowed.until || cutoff < *narrowed.until) narrowed.until = cutoff;
    }
    const detail::Selector selector(narrowed);
    const std::string channel = dead_letter_channel(filter.channel);
    const std::size_t limit = options.limit.value_or(static_cast<std::size_t>(-1));
    PurgeResult result;
    result.dry_run = options.dry_run;
    const std::size_t bound = detail::channel_size(*adapter_, channel);
    detail::ScanWatch watch(options_, channel, options.dry_run);
    std::size_t total = 0;
    if (options.progress) {
        total = std::min(limit, selector.selects_all() ? bound : count_matching(narrowed, options.dry_run));
        options.progress(0, total);
    }
    detail::scan_pages(*adapter_, channel, bound, options.dry_run ? kScanPageSize : kPageSize, [&](std::vector<Message> page) {
        detail::PageOutcome outcome;
        std::vector<std::string> ids;
        for (auto& message : page) {
            if (result.ids.size() + ids.size() == limit) {
                outcome.stop = true;
                break;
            }
            watch();
            DeadLetter letter = read_dead_letter(std::move(message), channel, options_.dead_letter_suffix, options_.parked_suffix);
            if (selector.matches(letter)) ids.push_back(std::move(letter.id));
        }
        if (!ids.empty() && !options.dry_run) {
            const std::size_t removed = evict ? adapter_->evict(channel, ids) : adapter_->remove(channel, ids);
            result.removed += removed;
            outcome.gone = removed;
            if (options.progress) options.progress(result.removed, std::max(total, result.removed));
        }
        result.ids.insert(result.ids.end(), std::make_move_iterator(ids.begin()), std::make_move_iterator(ids.end()));
        return outcome;
    });
    return result;
}

namespace detail {
namespace {

// Logs the ids of an eviction in lines of bounded length: every id is logged, none is dropped.
void log_evictions(const std::string& channel, const RetentionPolicy& policy, const std::vector<std::string>& ids,
                   std::size_t removed) {
    constexpr std::size_t kLineBudget = 800;
    std::string why;
    if (policy.max_count) why = "maxCount " + std::to_string(*policy.max_count);
    if (policy.max_age) why += fmt::format("{}maxAge {:g}s", why.empty() ? "" : ", ", policy.max_age->count());
    std::string line;
    std::size_t logged = 0;
    auto flush = [&] {
        logger().warn("evicted {} dead letters of {} ({}): {}{}", removed, channel, why, line,
                      logged < ids.size() ? " (continued)" : "");
        line.clear();
    };
    for (const auto& id : ids) {
        if (!line.empty() && line.size() + id.size() > kLineBudget) flush();
        if (!line.empty()) line += ", ";
        line += id;
        ++logged;
    }
    if (!line.empty()) flush();
}

}  // namespace
}  // namespace detail

RetentionResult DeadLetters::enforce_retention(const std::string& channel, const RetentionPolicy& policy) const {
    if (policy.max_age && (!std::isfinite(policy.max_age->count()) || policy.max_age->count() < 0.0))
        throw InvalidArgumentError("enforce_retention: max_age must be a duration of 0 or more");
    require_retention_capabilities(*adapter_, "DeadLetters::enforce_retention");
    RetentionResult result;
    result.channel = dead_letter_channel(channel);
    DeadLetterFilter filter;
    filter.channel = result.channel;
    auto take = [&result](PurgeResult part) {
        result.removed += part.removed;
        result.evicted.insert(result.evicted.end(), std::make_move_iterator(part.ids.begin()),
                              std::make_move_iterator(part.ids.end()));
    };
    if (policy.max_age) {
        PurgeOptions options;
        options.older_than = policy.max_age;
        take(remove_matching(filter, options, true));
    }
    if (policy.max_count) {
        const std::size_t size = detail::channel_size(*adapter_, result.channel);
        if (size > *policy.max_count) {
            PurgeOptions options;
            options.limit = size - *policy.max_count;
            take(remove_matching(filter, options, true));
        }
    }
    if (!result.evicted.empty()) detail::log_evictions(result.channel, policy, result.evicted, result.removed);
    return result;
}

}  // namespace failpipe
