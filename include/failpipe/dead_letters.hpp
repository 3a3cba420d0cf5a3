/// @file dead_letters.hpp
/// @brief DeadLetters: list, show, group, replay and purge dead letters over any adapter.
///
/// The CLI (`failpipe dlq ...`) and the dashboard are thin layers over this class. It reads the
/// failure record every dead letter carries (metadata `failpipe-dead-letter`, see
/// docs/operating-dead-letters.md) and changes channels only through the adapter's per-message atomic
/// operations (InspectionAdapter::move and ::remove), so a replay or a purge killed half-way loses
/// and duplicates nothing: running it again finishes the job.
///
/// Memory stays bounded whatever the size of the channel: every operation browses the channel in
/// pages of kPageSize; `list` stops as soon as it has its page; `groups` keeps one entry per
/// fingerprint. Thread safety: as safe as the adapter (a DeadLetters holds no mutable state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "failpipe/adapter.hpp"
#include "failpipe/channel_suffixes.hpp"  // kParkedSuffix, the default parked suffix
#include "failpipe/clock.hpp"
#include "failpipe/dead_letter_filter.hpp"
#include "failpipe/error.hpp"
#include "failpipe/failure_middleware_dispatcher.hpp"
#include "failpipe/message.hpp"

namespace failpipe {

/// @brief DeadLetters::show found no dead letter with that id in that channel.
class DeadLetterNotFoundError : public Error {
public:
    using Error::Error;
};

/// @brief An operation of DeadLetters stopped before the end of the channel it read: at its deadline
/// (DeadLetters::Options::scan_timeout) or because DeadLetters::Options::stop asked it to. What a
/// replay or purge moved before moved atomically, message by message: running it again finishes it.
class DeadLetterScanStopped : public Error {
public:
    enum class Why { deadline, stopped };
    DeadLetterScanStopped(Why why, std::size_t read, const std::string& message) : Error(message), why_(why), read_(read) {}
    Why why() const noexcept { return why_; }
    /// @brief How many messages it had read when it stopped.
    std::size_t read() const noexcept { return read_; }

private:
    Why why_;
    std::size_t read_;
};

/// @brief One dead letter: the message as it waits, and its failure record read defensively
/// (missing or mistyped fields read as empty / zero).
struct DeadLetter {
    std::string id;
    std::string channel;           ///< The dead-letter (or parked) channel that holds it.
    Message message;               ///< As stored (undecodable bytes: `data` is JSON binary, see `undecodable`).
    bool undecodable = false;      ///< Its bytes are not a message (foreign producer); it cannot be replayed.
    std::string reason;            ///< `reason`
    std::string error_type;        ///< `errorType`
    std::string error_message;     ///< `errorMessage`
    std::string error_class;       ///< `errorClass`
    std::string fingerprint;       ///< `fingerprint`, else computed from errorType and errorMessage.
    std::string time;              ///< `time` as recorded (ISO 8601 UTC), empty when absent.
    std::optional<TimePoint> time_point;  ///< `time` parsed; empty when absent or not ISO 8601.
    long long attempts = 0;        ///< `attempts`
    std::string original_channel;  ///< `originalChannel`, else `channel`, else the dead-letter channel without its suffix.
    long long replays = 0;         ///< How often it was replayed already (metadata `failpipe-replays`).
};

/// @brief One cause: the dead letters that share a fingerprint.
struct DeadLetterGroup {
    std::string fingerprint;
    std::size_t count = 0;
    std::string first_seen;  ///< The earliest record `time` (ISO 8601), empty when none had one.
    std::string last_seen;   ///< The latest record `time`.
    std::string sample_id;   ///< The first dead letter of the group met while browsing.
    std::string error_type;
    std::string sample_message;
};

/// @brief A page of DeadLetters::list.
struct DeadLetterPage {
    std::vector<DeadLetter> items;
    bool more = false;  ///< More matching dead letters follow (ask again with offset + items.size(), or with `next`).
    /// list_after: the cursor after the last item (pass it to list_after for the next page); the
    /// given cursor when the page is empty.
    BrowseCursor next;
};

/// @brief How many messages wait in a channel's dead-letter and parked channels.
struct DeadLetterCounts {
    std::string dead_letter_channel;
    std::string parked_channel;
    std::size_t dead = 0;
    std::size_t parked = 0;
};

/// @brief How DeadLetters::replay goes.
struct ReplayOptions {
    /// Send every replayed message here instead of its original channel. Refused when it is a
    /// dead-letter or parked channel (it ends with either suffix) or the source itself. The
    /// operator names it, so it is trusted: messages whose origin is refused go there too.
    std::optional<std::string> to;
    std::optional<std::size_t> limit;  ///< At most this many matching dead letters (replayed, parked or skipped); at least 1 when set.
    /// Messages per second, paced over the whole run (moved in chunks of about a twentieth of a
    /// second's worth). Must be finite, above 0 and at most DeadLetters::kMaxRate. Unset = as fast as possible.
    std::optional<double> rate;
    bool dry_run = false;        ///< Change nothing; the result says what would move where.
    bool keep_attempts = false;  ///< Keep `failpipe-failure` (counters, first/last failure) and the record.
    /// A message already replayed this many times goes to `<original channel>:parked` instead.
    /// Does not apply when replaying out of a parked channel (the operator chose those).
    std::size_t max_replays = 5;
    /// Called after each chunk (and once at the start) with (done, total): total is the number of
    /// matching messages counted by a first pass, made only when a callback is set; it may drift
    /// while others work on the channel.
    std::function<void(std::size_t done, std::size_t total)> progress;
};

/// @brief A dead letter a replay without `to` left where it was because its origin is not trusted.
struct ReplayRefusal {
    std::string id;
    std::string origin;  ///< The channel its record names (`originalChannel`), as written.
    std::string reason;  ///< Why, in words (for a person; the origin in it is quoted as JSON).
};

/// @brief What DeadLetters::replay did (or, in a dry run, would do).
struct ReplayResult {
    bool dry_run = false;
    std::size_t matched = 0;              ///< Matching dead letters met (replayed + parked + skipped + refused).
    std::vector<std::string> replayed;    ///< Ids now back in their channel (or `to`).
    std::vector<std::string> parked;      ///< Ids moved to a parked channel (max_replays reached).
    std::vector<MoveSkip> skipped;        ///< Ids left where they were, and why.
    /// Ids left where they were because the channel their record names is not one the deployment
    /// knows (see DeadLetters::Options::known_channels): replay them with `to` if you trust them.
    std::vector<ReplayRefusal> refused;
    /// With ReplayOptions::to in another shard group than the dead letters (the Redis adapter with
    /// shard groups): the group whose outbox the replayed messages went through (in a dry run: would
    /// go through), InspectionAdapter::outbox_of_move. They reach `to` only once a worker's outbox
    /// relay publishes them. Unset when they join `to` directly, or when none were (would be) replayed.
    std::optional<std::string> through_outbox;
};

/// @brief How DeadLetters::purge goes.
struct PurgeOptions {
    /// Only records whose `time` is older than this (records without a time are kept).
    std::optional<Seconds> older_than;
    std::optional<std::size_t> limit;  ///< At most this many; at least 1 when set.
    bool dry_run = false;              ///< Remove nothing; the result lists what would go.
    /// Called after each page (and once at the start) with (removed so far, total): total is the
    /// number of matching messages counted first (a count pass is made only when a callback is set
    /// and the filter selects less than everything).
    std::function<void(std::size_t done, std::size_t total)> progress;
};

/// @brief What DeadLetters::purge did.
struct PurgeResult {
    bool dry_run = false;
    std::vector<std::string> ids;  ///< The matching ids it asked the adapter to remove (or would, in a dry run).
    std::size_t removed = 0;       ///< How many the adapter removed (fewer than ids when some left meanwhile).
};

/// @brief How many dead letters a channel keeps (config `deadLetters.maxCount`, `deadLetters.maxAge`).
struct RetentionPolicy {
    /// Keep at most this many waiting dead letters: the oldest (first in browse order, which is
    /// arrival order) beyond it are evicted. Unset = no cap.
    std::optional<std::size_t> max_count;
    /// Evict dead letters whose record `time` is older than this (records without a readable time
    /// are kept: their age is unknown). Unset = no age limit.
    std::optional<Seconds> max_age;
    bool enabled() const noexcept { return max_count.has_value() || max_age.has_value(); }
};

/// @brief What DeadLetters::enforce_retention did.
struct RetentionResult {
    std::string channel;               ///< The dead-letter channel it evicted from.
    std::vector<std::string> evicted;  ///< Ids it asked the adapter to evict, oldest first.
    std::size_t removed = 0;           ///< How many the adapter evicted (and counted).
};

/// @brief The operations on dead letters. See the file comment.
class DeadLetters {
public:
    struct Options {
        std::string dead_letter_suffix = ":dlq";  ///< As the dispatcher's (FailureMiddlewareDispatcher::Options).
        std::string parked_suffix{kParkedSuffix};
        std::shared_ptr<const Clock> clock;       ///< For `older_than` (null = system clock).
        /// Bounds each operation that only reads — list, list_after, show, groups, count, and replay
        /// and purge in a dry run — to this long (measured from its start, checked before every
        /// message): past it the operation throws DeadLetterScanStopped (Why::deadline). Unset: no
        /// bound (the CLI). A replay or purge that changes things is bounded by `stop` only.
        std::optional<Seconds> scan_timeout;
        /// Asked before every message any operation reads: once it returns true the operation throws
        /// DeadLetterScanStopped (Why::stopped). Null: never. Called from the threads that run the
        /// operations, so it must be thread-safe (an atomic flag).
        std::function<bool()> stop;
        /// Channels a replay without `to` may send a dead letter back to, besides the working
        /// channel of the dead letters replayed (`orders` for `orders:dlq`) and the broker's own
        /// channels (InspectionAdapter::channels, when the adapter lists them; dead-letter and
        /// parked channels never count). A dead letter's origin is written into its metadata by
        /// whoever pushed it, so one naming any other channel is refused (ReplayResult::refused),
        /// not sent there. Fill it from the config: configured_channels().
        std::vector<std::string> known_channels;
    };
    /// @brief How many messages one browse call reads when replaying or purging.
    static constexpr std::size_t kPageSize = 500;
    /// @brief How many messages one browse call reads when only reading (list, groups, count, show,
    /// dry runs): larger, since on Redis a browse costs its offset.
    static constexpr std::size_t kScanPageSize = 2000;
    /// @brief The largest page `list` returns (page further with `offset`).
    static constexpr std::size_t kMaxListLimit = 10'000;
    /// @brief The fastest replay rate accepted, in messages per second.
    static constexpr double kMaxRate = 1'000'000.0;

    /// Each operation checks the adapter's capabilities first (UnsupportedCapabilityError naming the
    /// missing one, nothing done): list, show, groups and count need `browse` (show also `status`),
    /// counts `depth`, replay `depth`, `browse` and `move`, purge `depth`, `browse` and `remove`,
    /// retention `depth`, `browse` and `evict` (dry runs need no `move`/`remove`).
    /// Throws InvalidArgumentError for a null adapter, an empty parked suffix, or suffixes that
    /// could not be told apart (dead_letter_suffix_clash: the rule the config reader applies).
    explicit DeadLetters(std::shared_ptr<InspectionAdapter> adapter);
    DeadLetters(std::shared_ptr<InspectionAdapter> adapter, Options options);

    /// @brief The channel @p channel's dead letters live in (see DeadLetterFilter::channel).
    std::string dead_letter_channel(const std::string& channel) const;
    /// @brief The parked channel of the working channel @p channel.
    std::string parked_channel(const std::string& channel) const;

    /// @brief Up to @p limit (1..kMaxListLimit) matching dead letters after skipping @p offset matching ones.
    DeadLetterPage list(const DeadLetterFilter& filter, std::size_t offset = 0, std::size_t limit = 100) const;
    /// @brief Up to @p limit (1..kMaxListLimit) matching dead letters after the cursor @p after (empty =
    /// from the start; else a `next` of an earlier page). With an adapter that declares
    /// `browse-cursor` a page costs what it reads from the cursor on, however deep, and stays put
    /// when dead letters before it go. InvalidArgumentError for a cursor the adapter did not make.
    DeadLetterPage list_after(const DeadLetterFilter& filter, const BrowseCursor& after, std::size_t limit = 100) const;
    /// @brief The dead letter @p id of @p channel's dead letters. DeadLetterNotFoundError when it is not
    /// there (the text says where it is, when it is elsewhere).
    DeadLetter show(const std::string& channel, const std::string& id) const;
    /// @brief The matching dead letters by fingerprint, largest group first. Scans the whole channel.
    std::vector<DeadLetterGroup> groups(const DeadLetterFilter& filter) const;
    /// @brief How many dead letters match (scans the whole channel).
    std::size_t count(const DeadLetterFilter& filter) const;
    /// @brief Depths of @p channel's dead-letter and parked channels (cheap: no scan).
    DeadLetterCounts counts(const std::string& channel) const;

    /// @brief Moves the matching dead letters back (see ReplayOptions). Each message moves atomically
    /// (InspectionAdapter::move); dead letters that arrive during the run are left for the next one.
    ReplayResult replay(const DeadLetterFilter& filter, const ReplayOptions& options = {}) const;
    /// @brief Removes the matching dead letters (InspectionAdapter::remove), oldest first.
    PurgeResult purge(const DeadLetterFilter& filter, const PurgeOptions& options = {}) const;

    /// @brief Evicts what @p policy does not keep from @p channel's dead letters: first those older
    /// than max_age, then the oldest beyond max_count. Every eviction goes through
    /// InspectionAdapter::evict (removed and counted in one atomic step; the count is what
    /// `failpipe stats` shows as `evicted`) and is logged with its ids (logger "failpipe", warn).
    /// Throws InvalidArgumentError when max_age is negative or not finite.
    RetentionResult enforce_retention(const std::string& channel, const RetentionPolicy& policy) const;

    /// @brief Throws UnsupportedCapabilityError (naming @p who) unless @p adapter offers what
    /// enforce_retention needs: `depth`, `browse` and `evict`.
    static void require_retention_capabilities(const InspectionAdapter& adapter, std::string_view who);

private:
    PurgeResult remove_matching(const DeadLetterFilter& filter, const PurgeOptions& options, bool evict) const;
    /// count(), with the scan deadline only when @p bounded (a replay's or purge's progress count is not).
    std::size_t count_matching(const DeadLetterFilter& filter, bool bounded) const;

    void need(std::initializer_list<Capability> capabilities, std::string_view who) const;

    std::shared_ptr<InspectionAdapter> adapter_;
    Options options_;
};

/// @brief The working channels @p config names: those with a pipeline, the worker's channels, and
/// those a retry step (send-again, exponential-delay) sends to. For DeadLetters::Options::known_channels.
std::vector<std::string> configured_channels(const FailureMiddlewareDispatcher::Options& pipelines,
                                             const std::vector<std::string>& worker_channels = {});

struct Config;

/// @brief The origins a replay trusts in the deployment @p config describes (besides the dead
/// letters' own channel and the broker's channels): configured_channels(config.dispatcher,
/// config.worker.channels) — its pipelines, `worker.channels` and retry targets. The one rule of
/// `failpipe dlq replay --config`, `failpipe dashboard --config` and a runtime's dashboard, so a
/// dead letter's origin is trusted or refused alike wherever it is replayed.
std::vector<std::string> configured_channels(const Config& config);

}  // namespace failpipe
