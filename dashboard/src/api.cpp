#include "api.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "failpipe/adapter_capabilities.hpp"
#include "failpipe/channel_stats.hpp"
#include "failpipe/config_reader.hpp"
#include "failpipe/dead_letter_filter_params.hpp"
#include "failpipe/explain.hpp"
#include "failpipe/health.hpp"
#include "failpipe/memory/in_memory_adapter.hpp"
#include "failpipe/metadata_keys.hpp"
#include "failpipe/version.hpp"
#include "config_json.hpp"
#include "duration_text.hpp"
#include "logging.hpp"
#include "metadata.hpp"

namespace failpipe::dashboard::detail {
namespace {

using json = nlohmann::ordered_json;

std::unique_ptr<BrokerProbe> probe_if_supported(const std::shared_ptr<AdapterInterface>& adapter, HealthOptions options) {
    try {
        return std::make_unique<BrokerProbe>(adapter, std::move(options));
    } catch (const UnsupportedCapabilityError&) {
        return nullptr;
    }
}

// The most failures explain simulates for the page (a timeline of more is unreadable anyway).
constexpr int kMaxExplainFailures = 200;
// The largest page of dead letters the page asks for.
constexpr std::size_t kMaxPage = 500;
// The bytes of an undecodable message shown (hex and escaped text); the rest is summed up.
constexpr std::size_t kMaxRawBytes = 64 * 1024;

// A refused value as the messages show it: quoted, cut after 60 bytes.
std::string shown_value(std::string_view value) { return "\"" + failpipe::detail::cut_utf8(value, 60) + "\""; }

std::optional<std::string> param(const Params& params, const std::string& name) {
    const auto it = params.find(name);
    if (it == params.end()) return std::nullopt;
    return it->second;
}

// An unknown or repeated parameter is a 400, as an unknown or repeated option is for the CLI: a
// typo (`failure=5` for `failures`) must not quietly give the default, nor a second value be dropped.
void check_params(const Params& params, const std::vector<std::string>& known) {
    for (const auto& [name, value] : params) {
        const std::string shown = "`" + failpipe::detail::cut_utf8(name, 60) + "`";
        if (std::find(known.begin(), known.end(), name) == known.end()) {
            std::string message = "unknown parameter " + shown;
            if (auto near = nearest_word(name, known)) message += "; did you mean `" + *near + "`?";
            else {
                message += " (expected ";
                for (std::size_t i = 0; i < known.size(); ++i) message += (i == 0 ? "`" : ", `") + known[i] + "`";
                message += ")";
            }
            throw HttpError(400, message);
        }
        if (params.count(name) > 1) throw HttpError(400, "the parameter " + shown + " is given more than once");
    }
}

std::string required(const Params& params, const std::string& name) {
    auto value = param(params, name);
    if (!value || value->empty()) throw HttpError(400, "the parameter `" + name + "` is required");
    return *value;
}

std::size_t number_param(const Params& params, const std::string& name, std::size_t fallback, std::size_t min,
                         std::size_t max) {
    const auto value = param(params, name);
    if (!value || value->empty()) return fallback;
    std::size_t used = 0;
    unsigned long long n = 0;
    try {
        n = std::stoull(*value, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    // Digits only: stoull would also take " 5", "+5" and "-5" (wrapped around).
    if (used == 0 || used != value->size() || value->find_first_not_of("0123456789") != std::string::npos || n < min ||
        n > max)
        throw HttpError(400, "`" + name + "` expects a whole number from " + std::to_string(min) + " to " +
                                 std::to_string(max) + ", found " + shown_value(*value));
    return static_cast<std::size_t>(n);
}

// The query parameters of @p params that are the filter's (not @p own, the endpoint's own ones),
// read by the library's parser as the CLI reads its options: an unknown or repeated one is a 400.
DeadLetterFilter filter_of_query(const Params& params, std::initializer_list<const char*> own) {
    for (const char* name : own)
        if (params.count(name) > 1) throw HttpError(400, std::string("the parameter `") + name + "` is given more than once");
    FilterParams filter_params;
    for (const auto& [name, value] : params)
        if (std::none_of(own.begin(), own.end(), [&](const char* o) { return name == o; }))
            filter_params.emplace_back(name, value);
    return parse_dead_letter_filter(filter_params, FilterParamStyle::query);
}

json letter_json(const DeadLetter& d) {
    json item;
    item["id"] = d.id;
    item["channel"] = d.channel;
    item["time"] = d.time;
    item["reason"] = d.reason;
    item["errorType"] = d.error_type;
    item["errorMessage"] = d.error_message;
    item["errorClass"] = d.error_class;
    item["fingerprint"] = d.fingerprint;
    item["attempts"] = d.attempts;
    item["originalChannel"] = d.original_channel;
    item["replays"] = d.replays;
    item["undecodable"] = d.undecodable;
    item["handler"] = d.message.handler;
    return item;
}

// Undecodable bytes, shown safely: printable ASCII as it is, everything else as \xNN; and hex.
json raw_json(const std::vector<std::uint8_t>& bytes) {
    static const char* digits = "0123456789abcdef";
    const std::size_t shown = std::min(bytes.size(), kMaxRawBytes);
    std::string text;
    std::string hex;
    for (std::size_t i = 0; i < shown; ++i) {
        const unsigned char b = bytes[i];
        if (b >= 0x20 && b < 0x7f && b != '\\') {
            text += static_cast<char>(b);
        } else if (b == '\\') {
            text += "\\\\";
        } else {
            text += "\\x";
            text += digits[b >> 4];
            text += digits[b & 15];
        }
        hex += digits[b >> 4];
        hex += digits[b & 15];
        if (i + 1 < shown) hex += (i % 16 == 15) ? '\n' : ' ';
    }
    json raw;
    raw["size"] = bytes.size();
    raw["text"] = text;
    raw["hex"] = hex;
    raw["truncated"] = shown < bytes.size();
    return raw;
}

json history_of(const nlohmann::json& metadata) {
    if (!metadata.is_object()) return json::array();
    const auto record = metadata.find(std::string(metadata_keys::dead_letter));
    if (record != metadata.end() && record->is_object()) {
        const auto history = record->find("history");
        if (history != record->end() && history->is_array()) return json(*history);
    }
    const auto history = metadata.find(std::string(metadata_keys::history));
    if (history != metadata.end() && history->is_array()) return json(*history);
    return json::array();
}

json replay_result_json(const ReplayResult& r) {
    json doc;
    doc["dryRun"] = r.dry_run;
    doc["matched"] = r.matched;
    doc["replayed"] = r.replayed.size();
    doc["parked"] = r.parked.size();
    doc["skipped"] = r.skipped.size();
    doc["refused"] = r.refused.size();
    // Replayed to another shard group's channel: they arrive once a worker's outbox relay publishes them.
    doc["throughOutbox"] = r.through_outbox ? json(*r.through_outbox) : json(nullptr);
    doc["replayedIds"] = json::array();
    for (std::size_t i = 0; i < r.replayed.size() && i < 1000; ++i) doc["replayedIds"].push_back(r.replayed[i]);
    doc["skips"] = json::array();
    for (std::size_t i = 0; i < r.skipped.size() && i < 100; ++i)
        doc["skips"].push_back({{"id", r.skipped[i].id},
                                {"reason", std::string(to_string(r.skipped[i].reason))},
                                {"detail", r.skipped[i].detail}});
    doc["refusals"] = json::array();
    for (std::size_t i = 0; i < r.refused.size() && i < 100; ++i)
        doc["refusals"].push_back({{"id", r.refused[i].id},
                                   {"origin", failpipe::detail::cut_utf8(r.refused[i].origin, 200)},
                                   {"reason", r.refused[i].reason}});
    return doc;
}

json parse_body(const std::string& body) {
    if (body.empty()) throw HttpError(400, "the request body is empty: expected a JSON object");
    try {
        json doc = json::parse(body);
        if (!doc.is_object()) throw HttpError(400, "the request body must be a JSON object");
        return doc;
    } catch (const json::parse_error& e) {
        throw HttpError(400, std::string("the request body is not JSON: ") + e.what());
    } catch (const json::out_of_range& e) {
        // Valid JSON, but a number no double holds (1e400): the caller's error, not the server's.
        throw HttpError(400, std::string("the request body holds a number out of range: ") + e.what());
    }
}

// A misspelt field (`fitler`) would otherwise widen a replay or purge to every dead letter.
void require_known_fields(const nlohmann::json& doc, std::initializer_list<const char*> known) {
    for (const auto& [key, value] : doc.items()) {
        if (std::any_of(known.begin(), known.end(), [&](const char* k) { return key == k; })) continue;
        std::string expected;
        for (const char* k : known) expected += (expected.empty() ? "" : ", ") + std::string(k);
        throw HttpError(400, "unknown field `" + failpipe::detail::cut_utf8(key, 60) + "` in the request body (expected " +
                                 expected + "); nothing was done");
    }
}

std::optional<std::string> body_string(const nlohmann::json& doc, const char* key) {
    const auto it = doc.find(key);
    if (it == doc.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) throw HttpError(400, std::string("`") + key + "` must be a string");
    return it->get<std::string>();
}

bool body_bool(const nlohmann::json& doc, const char* key) {
    const auto it = doc.find(key);
    if (it == doc.end() || it->is_null()) return false;
    if (!it->is_boolean()) throw HttpError(400, std::string("`") + key + "` must be true or false");
    return it->get<bool>();
}

std::vector<std::string> body_ids(const nlohmann::json& doc, std::size_t max) {
    std::vector<std::string> ids;
    const auto it = doc.find("ids");
    if (it == doc.end() || it->is_null()) return ids;
    if (!it->is_array()) throw HttpError(400, "`ids` must be an array of message ids");
    if (it->size() > max) throw HttpError(400, "`ids` names " + std::to_string(it->size()) + " messages; at most " +
                                                   std::to_string(max) + " (use a filter for more)");
    for (const auto& id : *it) {
        if (!id.is_string() || id.get<std::string>().empty()) throw HttpError(400, "`ids` must hold non-empty strings");
        ids.push_back(id.get<std::string>());
    }
    if (ids.empty()) throw HttpError(400, "`ids` is empty: select at least one message");
    return ids;
}

// The ids a selection names that are not dead letters of the channel: 404, nothing done.
void require_ids(const DeadLetters& letters, const std::string& channel, const std::vector<std::string>& ids) {
    if (ids.empty()) return;
    DeadLetterFilter only;
    only.channel = channel;
    only.ids = ids;
    if (letters.count(only) == ids.size()) return;
    for (const auto& id : ids) letters.show(channel, id);  // throws DeadLetterNotFoundError naming the first missing
}

}  // namespace

ApiReply error_reply(int status, const std::string& message, const std::string& kind) {
    json body;
    body["error"] = message;
    body["kind"] = kind;
    body["status"] = status;
    return ApiReply{status, std::move(body)};
}

std::string json_body(const nlohmann::ordered_json& doc) {
    const std::string text = doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    std::string out;
    out.reserve(text.size() + 16);
    for (const char c : text) {
        // Outside strings JSON never holds these, so escaping every one is exact.
        if (c == '<') out += "\\u003c";
        else if (c == '>') out += "\\u003e";
        else if (c == '&') out += "\\u0026";
        else out += c;
    }
    return out;
}

ApiReply reply_for_current_exception() {
    try {
        throw;
    } catch (const HttpError& e) {
        return error_reply(e.status(), e.what(), e.kind());
    } catch (const DeadLetterNotFoundError& e) {
        return error_reply(404, e.what(), "not-found");
    } catch (const InvalidArgumentError& e) {
        return error_reply(400, e.what());
    } catch (const DeadLetterScanStopped& e) {
        if (e.why() == DeadLetterScanStopped::Why::stopped)
            return error_reply(503, std::string(e.what()) + ": the dashboard is stopping", "stopping");
        return error_reply(504, std::string(e.what()) + ": narrow the filter (since, until, reason, class, group) or use "
                                "`failpipe dlq`, which has no deadline", "timeout");
    } catch (const TooManyJobs& e) {
        return error_reply(429, e.what());
    } catch (const JobCancelled& e) {
        return error_reply(503, e.what());
    } catch (const UnsupportedCapabilityError& e) {
        return error_reply(501, e.what(), "unsupported");  // this adapter cannot do it: retrying will not help
    } catch (const ConnectionError& e) {
        return error_reply(503, std::string("broker unreachable: ") + e.what(), "broker");
    } catch (const AdapterError& e) {
        return error_reply(503, std::string("broker error: ") + e.what(), "broker");
    } catch (const std::exception& e) {
        failpipe::detail::logger().error("dashboard: a request failed: {}", e.what());
        return error_reply(500, std::string("internal error: ") + e.what(), "internal");
    }
}

Api::Api(std::shared_ptr<AdapterInterface> adapter, const DashboardOptions& options)
    : adapter_(adapter),
      options_(options),
      letters_(adapter, options_letters(true)),
      job_letters_(adapter, options_letters(false)),
      dispatcher_(options.pipelines ? FailureMiddlewareDispatcher(*options.pipelines) : FailureMiddlewareDispatcher()),
      sampler_(adapter, ChannelStatsOptions{options.dead_letter_suffix, options.parked_suffix}, options.sample_interval,
               options.samples, options.metrics),
      jobs_(options.max_jobs, 50) {
    health_probe_ = probe_if_supported(adapter_, health_options());
    heartbeat_probe_ = probe_if_supported(adapter_, heartbeat_options());
}

Api::~Api() { stop(); }

HealthOptions Api::health_options() const {
    HealthOptions health;
    health.dead_letter_suffix = options_.dead_letter_suffix;
    health.timeout = options_.broker_timeout;
    return health;
}

HealthOptions Api::heartbeat_options() const {
    HealthOptions probe = health_options();
    probe.channels = {"failpipe-dashboard-probe"};
    return probe;
}

// Requests read with a deadline (a scan holds a serving thread and a scan slot); jobs run without
// one. Both stop at the next message once the dashboard stops.
DeadLetters::Options Api::options_letters(bool bounded) const {
    DeadLetters::Options options;
    options.dead_letter_suffix = options_.dead_letter_suffix;
    options.parked_suffix = options_.parked_suffix;
    if (bounded) options.scan_timeout = options_.scan_timeout;
    options.stop = [this] { return stopping_.load(); };
    // A replay trusts the origins the broker lists and those of the config (configured_channels).
    // A caller that gives only the pipelines (as before known_channels existed) gets their
    // channels and retry targets, by the same rule.
    options.known_channels = options_.known_channels;
    if (options.known_channels.empty() && options_.pipelines) options.known_channels = configured_channels(*options_.pipelines);
    return options;
}

void Api::start() { sampler_.start(); }

void Api::cancel() { stopping_ = true; }

void Api::stop() {
    cancel();
    jobs_.stop();
    sampler_.stop();
}

// A replay or purge the broker cannot take would otherwise start as a job that fails at once: 503
// now, with nothing done.
void Api::require_broker(const std::string& channel, const char* nothing_done) const {
    try {
        adapter_->depth(letters_.dead_letter_channel(channel));
    } catch (const AdapterError& e) {
        throw HttpError(503, "broker", std::string("broker unreachable: ") + e.what() + "; nothing was " + nothing_done);
    }
}

DeadLetterFilter Api::filter_of(const nlohmann::json& body) const {
    FilterParams params;
    if (const auto channel = body_string(body, "channel")) params.emplace_back("channel", *channel);
    const auto it = body.find("filter");
    if (it != body.end() && !it->is_null()) {
        if (!it->is_object()) throw HttpError(400, "`filter` must be an object");
        for (const auto& [name, value] : it->items()) {
            if (value.is_null()) continue;
            if (!value.is_string())
                throw HttpError(400, "`filter." + failpipe::detail::cut_utf8(name, 60) + "` must be a string");
            params.emplace_back(name, value.get<std::string>());
        }
    }
    return parse_dead_letter_filter(params, FilterParamStyle::query);
}

ApiReply Api::info() const {
    json doc;
    doc["version"] = std::string(kVersion);
    doc["readOnly"] = options_.read_only;
    doc["deadLetterSuffix"] = options_.dead_letter_suffix;
    doc["parkedSuffix"] = options_.parked_suffix;
    doc["tokenHeader"] = "X-Failpipe-Token";
    doc["runtime"] = static_cast<bool>(options_.runtime_facts);
    doc["sampleIntervalSeconds"] = options_.sample_interval.count();
    return ApiReply{200, std::move(doc)};
}

ApiReply Api::overview() {
    json doc;
    doc["readOnly"] = options_.read_only;
    doc["channels"] = json::array();
    for (const auto& s : channel_stats(*adapter_, ChannelStatsOptions{options_.dead_letter_suffix, options_.parked_suffix})) {
        json row;
        row["channel"] = s.channel;
        row["ready"] = s.ready;
        row["delayed"] = s.delayed;
        row["reserved"] = s.reserved;
        row["dead"] = s.dead;
        row["parked"] = s.parked;
        row["evicted"] = s.evicted;
        doc["channels"].push_back(std::move(row));
    }
    {
        std::optional<RuntimeHealthFacts> facts;
        if (options_.runtime_facts) facts = options_.runtime_facts();
        const BrokerHealthFacts broker = health_probe_ ? health_probe_->probe() : probe_broker(adapter_, health_options());
        std::lock_guard lock(health_mutex_);
        HealthReport report = evaluate_health(&broker, facts ? &*facts : nullptr,
                                              previous_health_ ? &*previous_health_ : nullptr);
        doc["health"] = json::parse(report.to_json());
        previous_health_ = std::move(report);
    }
    doc["breakers"] = json::array();
    // Only a runtime's breakers have a state worth showing; a separate process's copies never see a call.
    for (const auto& middleware : options_.runtime_facts ? options_.breakers : decltype(options_.breakers){}) {
        const CircuitBreakerSnapshot s = middleware->breaker()->snapshot();
        json row;
        row["name"] = s.name;
        row["state"] = std::string(to_string(s.state));
        row["openings"] = s.openings;
        row["rejected"] = s.rejected;
        row["successes"] = s.successes;
        row["failures"] = s.failures;
        row["windowCalls"] = s.window_calls;
        row["windowFailures"] = s.window_failures;
        doc["breakers"].push_back(std::move(row));
    }
    doc["retryBudget"] = json::array();
    if (options_.retry_budget) {
        for (const auto& s : options_.retry_budget->snapshot()) {
            json row;
            row["channel"] = s.channel;
            row["use"] = std::isfinite(s.use) ? s.use : 0.0;
            row["retries"] = s.retries;
            row["allowance"] = s.allowance;
            row["firstAttempts"] = s.first_attempts;
            row["exhausted"] = s.exhausted;
            row["deniedTotal"] = s.denied_total;
            doc["retryBudget"].push_back(std::move(row));
        }
    }
    doc["runtime"] = static_cast<bool>(options_.runtime_facts);
    return ApiReply{200, std::move(doc)};
}

ApiReply Api::rates() const { return ApiReply{200, sampler_.to_json()}; }

// The page's heartbeat: one bounded round trip (the depth of one key), so a view that shows no live
// data still learns that the broker went away, and came back.
ApiReply Api::broker() const {
    const BrokerHealthFacts facts =
        heartbeat_probe_ ? heartbeat_probe_->probe() : probe_broker(adapter_, heartbeat_options());
    if (!facts.reachable) return error_reply(503, "broker unreachable: " + facts.error, "broker");
    json doc;
    doc["reachable"] = true;
    doc["answeredMs"] = facts.answered_in.count();
    return ApiReply{200, std::move(doc)};
}

// A page from @p cursor. A cursor this dashboard did not give (mistyped, cut, from another broker
// or from before a restart of an in-memory one) is the caller's 400, said in the API's words.
DeadLetterPage Api::page_after(const DeadLetterFilter& filter, const std::string& cursor, std::size_t limit) const {
    try {
        return letters_.list_after(filter, cursor, limit);
    } catch (const InvalidArgumentError& e) {
        if (std::string_view(e.what()).find("not a cursor") == std::string_view::npos) throw;
        throw HttpError(400, "`cursor` is not one this dashboard gave (use the `next` of a page, or leave cursor out "
                             "to start from the first page)");
    }
}

ApiReply Api::dead_letters(const Params& params) const {
    const DeadLetterFilter filter = filter_of_query(params, {"offset", "limit", "cursor"});
    const std::size_t offset = number_param(params, "offset", 0, 0, 1'000'000'000);
    const std::size_t limit = number_param(params, "limit", 50, 1, kMaxPage);
    const auto started = std::chrono::steady_clock::now();
    // By cursor (`cursor=`, or the first page): a page costs its own size at any depth, and `next`
    // continues it. A pasted `offset=` without a cursor pages by offset (no `next`).
    const std::optional<std::string> cursor = param(params, "cursor");
    const bool by_cursor = cursor.has_value() || offset == 0;
    const DeadLetterPage page = by_cursor ? page_after(filter, cursor.value_or(""), limit) : letters_.list(filter, offset, limit);
    json doc;
    doc["channel"] = letters_.dead_letter_channel(filter.channel);
    if (by_cursor) doc["next"] = page.next;
    doc["offset"] = offset;
    doc["limit"] = limit;
    doc["items"] = json::array();
    for (const auto& d : page.items) doc["items"].push_back(letter_json(d));
    doc["more"] = page.more;
    doc["elapsedMs"] =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    return ApiReply{200, std::move(doc)};
}

ApiReply Api::count(const Params& params) const {
    const DeadLetterFilter filter = filter_of_query(params, {});
    json doc;
    doc["channel"] = letters_.dead_letter_channel(filter.channel);
    doc["count"] = letters_.count(filter);
    return ApiReply{200, std::move(doc)};
}

ApiReply Api::groups(const Params& params) const {
    const DeadLetterFilter filter = filter_of_query(params, {});
    json doc;
    doc["channel"] = letters_.dead_letter_channel(filter.channel);
    doc["groups"] = json::array();
    for (const auto& g : letters_.groups(filter)) {
        json item;
        item["fingerprint"] = g.fingerprint;
        item["count"] = g.count;
        item["firstSeen"] = g.first_seen;
        item["lastSeen"] = g.last_seen;
        item["sampleId"] = g.sample_id;
        item["errorType"] = g.error_type;
        item["sampleMessage"] = g.sample_message;
        doc["groups"].push_back(std::move(item));
    }
    return ApiReply{200, std::move(doc)};
}

ApiReply Api::message(const Params& params) const {
    check_params(params, {"channel", "id"});
    const std::string channel = required(params, "channel");
    const std::string id = required(params, "id");
    const DeadLetter d = letters_.show(channel, id);
    json doc = letter_json(d);
    const nlohmann::json& metadata = d.message.metadata;
    if (d.undecodable && d.message.data.is_binary()) {
        doc["data"] = nullptr;
        doc["raw"] = raw_json(d.message.data.get_binary());
    } else {
        doc["data"] = json(d.message.data);
        doc["raw"] = nullptr;
    }
    const auto record = metadata.is_object() ? metadata.find(std::string(metadata_keys::dead_letter)) : metadata.end();
    doc["record"] = (record != metadata.end()) ? json(*record) : json(nullptr);
    doc["history"] = history_of(metadata);
    doc["metadata"] = json(metadata);
    return ApiReply{200, std::move(doc)};
}

ApiReply Api::explain(const Params& params) {
    check_params(params, {"channel", "failures", "class", "ttl"});
    ExplainOptions options;
    options.channel = required(params, "channel");
    options.max_failures = static_cast<int>(number_param(params, "failures", 50, 1, kMaxExplainFailures));
    const std::string error_class = param(params, "class").value_or("unknown");
    const auto parsed = parse_error_class(error_class.empty() ? "unknown" : error_class);
    // In the words of the filters' `class`, with the nearest name.
    if (!parsed)
        throw HttpError(400, "`class` " + failpipe::detail::bad_choice(error_class, failpipe::detail::error_class_names()));
    options.error_class = *parsed;
    options.error_type = *parsed == ErrorClass::transient   ? "failpipe::TransientError"
                         : *parsed == ErrorClass::permanent ? "failpipe::PermanentError"
                                                            : "failpipe::Error";
    // In the CLI's words (`--ttl`): the same parser, so 90s, 15m, 2h, 7d mean the same in both.
    if (const auto ttl = param(params, "ttl"))
        options.ttl = Seconds{failpipe::detail::parse_time_to_live(*ttl, "`ttl`", shown_value)};
    options.on_expired = options_.on_expired;
    json doc;
    doc["channel"] = options.channel;
    doc["errorClass"] = std::string(to_string(*parsed));
    doc["ttl"] = options.ttl ? json(options.ttl->count()) : json(nullptr);
    doc["configured"] = options_.pipelines != nullptr;
    doc["steps"] = json::array();
    std::vector<std::string> retrying;
    std::lock_guard lock(explain_mutex_);
    failpipe::explain(dispatcher_, options, [&](const ExplainStep& s) {
        const Decision& d = s.decision;
        const bool pushes = d.action != FailureAction::drop && d.action != FailureAction::rethrow;
        json step;
        step["failure"] = s.failure;
        step["channel"] = s.channel;
        step["middleware"] = d.middleware;
        step["action"] = std::string(to_string(d.action));
        step["to"] = pushes ? json(d.to) : json(nullptr);
        step["delay"] = pushes ? json(d.delay.count()) : json(nullptr);
        step["jittered"] = d.jittered;
        step["delayMin"] = d.delay_min.count();
        step["delayMax"] = d.delay_max.count();
        step["elapsed"] = s.elapsed.count();
        step["note"] = d.note;
        step["expired"] = s.expired;  // the delivery that found it expired: its handler never ran, no failure
        if ((d.action == FailureAction::send_again || d.action == FailureAction::delay) &&
            std::find(retrying.begin(), retrying.end(), d.middleware) == retrying.end())
            retrying.push_back(d.middleware);
        doc["steps"].push_back(std::move(step));
    });
    doc["breakers"] = explain_breakers(options_.breakers, std::nullopt);
    doc["retryBudget"] = explain_retry_budget(dispatcher_, options.channel, retrying);
    return ApiReply{200, std::move(doc)};
}

ApiReply Api::job(const Params& params) const {
    check_params(params, {"id"});
    const std::string id = required(params, "id");
    auto doc = jobs_.get(id);
    if (!doc) return error_reply(404, "no job " + failpipe::detail::cut_utf8(id, 40) + " (finished long ago, or never started)", "not-found");
    return ApiReply{200, std::move(*doc)};
}

ApiReply Api::replay(const std::string& body_text) {
    const nlohmann::json body = parse_body(body_text);
    require_known_fields(body, {"channel", "filter", "ids", "rate", "limit", "dryRun", "to"});
    DeadLetterFilter filter = filter_of(body);
    filter.ids = body_ids(body, options_.max_ids);
    ReplayOptions options;
    // Named by the operator: every matching dead letter goes there, whatever origin it claims.
    options.to = body_string(body, "to");
    if (const auto rate = body.find("rate"); rate != body.end() && !rate->is_null()) {
        if (!rate->is_number()) throw HttpError(400, "`rate` must be a number of messages per second");
        options.rate = rate->get<double>();
        // Below 1/s a job would sleep between two messages longer than a stop may wait.
        if (!(*options.rate >= 1.0)) throw HttpError(400, "`rate` must be at least 1 message per second");
    }
    if (const auto limit = body.find("limit"); limit != body.end() && !limit->is_null()) {
        if (!limit->is_number_unsigned() || limit->get<std::size_t>() == 0)
            throw HttpError(400, "`limit` must be a whole number of at least 1");
        options.limit = limit->get<std::size_t>();
    }
    options.dry_run = body_bool(body, "dryRun");
    // A bad argument (rate, limit) is a 400 now, not a failed job: the same call on an empty adapter checks them all.
    DeadLetters(std::make_shared<InMemoryAdapter>(), options_letters(false)).replay(filter, options);
    require_broker(filter.channel, "replayed");
    require_ids(letters_, filter.channel, filter.ids);
    if (options.dry_run) return ApiReply{200, replay_result_json(letters_.replay(filter, options))};
    const std::string channel = filter.channel;
    const std::string id = jobs_.start("replay", channel, [this, filter, options](JobProgress& progress) mutable {
        options.progress = [&progress](std::size_t done, std::size_t total) { progress(done, total); };
        return replay_result_json(job_letters_.replay(filter, options));
    });
    json doc;
    doc["job"] = id;
    return ApiReply{202, std::move(doc)};
}

ApiReply Api::purge(const std::string& body_text) {
    const nlohmann::json body = parse_body(body_text);
    require_known_fields(body, {"channel", "filter", "ids", "dryRun", "confirm"});
    DeadLetterFilter filter = filter_of(body);
    filter.ids = body_ids(body, options_.max_ids);
    PurgeOptions options;
    options.dry_run = body_bool(body, "dryRun");
    const std::string where = letters_.dead_letter_channel(filter.channel);
    if (!options.dry_run) {
        const std::string typed = body_string(body, "confirm").value_or("");
        if (typed != filter.channel && typed != where)
            throw HttpError(400, "confirmation", "purge not confirmed: type the channel name \"" + filter.channel +
                                     "\" to confirm (nothing was deleted)");
    }
    DeadLetters(std::make_shared<InMemoryAdapter>(), options_letters(false)).purge(filter, options);
    require_broker(filter.channel, "deleted");
    require_ids(letters_, filter.channel, filter.ids);
    auto result_json = [](const PurgeResult& r) {
        json doc;
        doc["dryRun"] = r.dry_run;
        doc["matched"] = r.ids.size();
        doc["removed"] = r.removed;
        doc["ids"] = json::array();
        for (std::size_t i = 0; i < r.ids.size() && i < 1000; ++i) doc["ids"].push_back(r.ids[i]);
        return doc;
    };
    if (options.dry_run) return ApiReply{200, result_json(letters_.purge(filter, options))};
    const std::string id = jobs_.start("purge", filter.channel, [this, filter, options, result_json](JobProgress& progress) mutable {
        options.progress = [&progress](std::size_t done, std::size_t total) { progress(done, total); };
        return result_json(job_letters_.purge(filter, options));
    });
    json doc;
    doc["job"] = id;
    return ApiReply{202, std::move(doc)};
}

}  // namespace failpipe::dashboard::detail
