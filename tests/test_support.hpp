// Helpers shared by the core tests.
#pragma once

#include <doctest/doctest.h>
#include <failpipe/failpipe.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace failpipe::test {

/// A "next" that records that it ran and decides nothing (as Yii's next would rethrow).
class RecordingNext final : public FailureHandlerInterface {
public:
    mutable int calls = 0;
    FailureHandlingRequest handle(FailureHandlingRequest request, const Failure&) const override {
        ++calls;
        return request;
    }
};

inline Failure failure_of(ErrorClass error_class = ErrorClass::unknown, std::string what = "Test exception.") {
    return Failure{nullptr, "std::runtime_error", std::move(what), error_class};
}

inline Message message_with_failure_meta(nlohmann::json failure_meta) {
    Message message = Message::create("job", {{"n", 1}});
    message.id = "m-1";
    message.metadata["failpipe-failure"] = std::move(failure_meta);
    return message;
}

inline const nlohmann::json& failure_meta(const Message& message) { return message.metadata.at("failpipe-failure"); }

/// The problems parse_config finds in @p text (empty, and a failed check, when it accepts it).
inline std::vector<ConfigIssue> config_refusals(std::string_view text) {
    try {
        (void)parse_config(text);
    } catch (const ConfigError& e) {
        return e.issues();
    }
    FAIL_CHECK("the document was accepted: " << text);
    return {};
}

template <class M, class... Args>
FailureMiddlewarePtr make(Args&&... args) {
    return std::make_shared<M>(std::forward<Args>(args)...);
}

/// The problems load_config finds in @p document (none when it loads).
inline std::vector<ConfigIssue> config_issues(const nlohmann::json& document) {
    try {
        (void)load_config(document);
    } catch (const ConfigError& e) {
        return e.issues();
    }
    return {};
}

/// The keys of the JSON object @p object.
inline std::set<std::string> keys_of(const nlohmann::json& object) {
    std::set<std::string> keys;
    for (auto it = object.begin(); it != object.end(); ++it) keys.insert(it.key());
    return keys;
}

/// The dead-letter record of a message the worker dead-lettered.
inline const nlohmann::json& record_of(const Message& message) { return message.metadata.at("failpipe-dead-letter"); }

inline bool contains(std::string_view text, std::string_view part) { return text.find(part) != std::string_view::npos; }

}  // namespace failpipe::test

namespace failpipe::test {

/// An adapter in front of another that passes every call on; tests derive from it and override
/// what they change. settle_batch is not passed on: the contract's default calls settle() of the
/// derived adapter for each item, so an overridden settle sees every settle.
class ForwardingAdapter : public AdapterInterface {
public:
    explicit ForwardingAdapter(std::shared_ptr<AdapterInterface> inner) : inner_(std::move(inner)) {}

    AdapterCapabilities capabilities() const override { return inner_->capabilities(); }

    std::string push(const std::string& c, Message m, Seconds d) override { return inner_->push(c, std::move(m), d); }
    std::vector<std::string> push_batch(std::vector<OutgoingMessage> m) override { return inner_->push_batch(std::move(m)); }
    std::vector<Delivery> reserve(const std::vector<std::string>& c, std::size_t n, std::chrono::milliseconds w) override {
        return inner_->reserve(c, n, w);
    }
    void settle(const Delivery& d, Settlement&& s) override { inner_->settle(d, std::move(s)); }
    void release(const Delivery& d, Seconds delay) override { inner_->release(d, delay); }
    std::size_t reclaim() override { return inner_->reclaim(); }
    MessageStatus status(const std::string& id) override { return inner_->status(id); }
    ChannelDepth depth(const std::string& c) override { return inner_->depth(c); }
    std::vector<Message> browse(const std::string& c, std::size_t o, std::size_t l) override { return inner_->browse(c, o, l); }
    BrowsePage browse_after(const std::string& c, const BrowseCursor& a, std::size_t l) override {
        return inner_->browse_after(c, a, l);
    }
    std::size_t remove(const std::string& c, const std::vector<std::string>& ids) override { return inner_->remove(c, ids); }
    std::size_t evict(const std::string& c, const std::vector<std::string>& ids) override { return inner_->evict(c, ids); }
    std::uint64_t evicted(const std::string& c) override { return inner_->evicted(c); }
    MoveResult move(const std::string& f, const std::string& t, const std::vector<std::string>& ids, const MessageRewrite& r,
                    Seconds d) override {
        return inner_->move(f, t, ids, r, d);
    }
    std::vector<std::string> channels() override { return inner_->channels(); }
    std::optional<std::string> outbox_of_move(const std::string& f, const std::string& t) const override {
        return inner_->outbox_of_move(f, t);
    }

protected:
    std::shared_ptr<AdapterInterface> inner_;
};

/// An adapter in front of another that fails chosen calls with a ConnectionError, as a broker
/// going away would, without touching the settlement (the contract lets a caller send it again).
class FlakyAdapter final : public ForwardingAdapter {
public:
    using ForwardingAdapter::ForwardingAdapter;
    int fail_settles = 0;   ///< the next this-many settles fail
    int fail_reserves = 0;  ///< the next this-many reserves fail
    int settle_calls = 0;
    int reserve_calls = 0;

    std::vector<Delivery> reserve(const std::vector<std::string>& c, std::size_t n, std::chrono::milliseconds w) override {
        ++reserve_calls;
        if (fail_reserves > 0) {
            --fail_reserves;
            throw ConnectionError("connection refused (test)");
        }
        return inner_->reserve(c, n, w);
    }
    void settle(const Delivery& d, Settlement&& s) override {
        ++settle_calls;
        if (fail_settles > 0) {
            --fail_settles;
            throw ConnectionError("connection reset by peer (test)");
        }
        inner_->settle(d, std::move(s));
    }
};

}  // namespace failpipe::test

namespace failpipe::test {

/// A broker that hangs: depth() waits at a gate the test opens (at most 20 s), counting the calls
/// waiting at once.
class GatedDepth final : public ForwardingAdapter {
public:
    using ForwardingAdapter::ForwardingAdapter;
    ChannelDepth depth(const std::string& channel) override {
        std::unique_lock lock(mutex_);
        if (++waiting_ > most_) most_ = waiting_;
        changed_.notify_all();
        changed_.wait_for(lock, std::chrono::seconds(20), [&] { return open_; });
        --waiting_;
        lock.unlock();
        return inner_->depth(channel);
    }
    /// The most calls that waited at once.
    int most() {
        std::lock_guard lock(mutex_);
        return most_;
    }
    void open() {
        std::lock_guard lock(mutex_);
        open_ = true;
        changed_.notify_all();
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    int waiting_ = 0;
    int most_ = 0;
    bool open_ = false;
};

}  // namespace failpipe::test
