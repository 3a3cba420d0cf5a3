/// @file in_memory_adapter.hpp
/// @brief InMemoryAdapter: a complete broker in one process, for tests, demos and single-process use.
///
/// Thread safety: every method is safe to call from many threads. A settle is one critical
/// section: the acknowledgement and all staged pushes happen together or not at all.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "failpipe/adapter.hpp"
#include "failpipe/clock.hpp"

namespace failpipe {

/// @brief An in-process broker honouring delays against an injectable clock and a visibility timeout.
class InMemoryAdapter final : public AdapterInterface {
public:
    struct Options {
        /// A delivery held longer than this (by the clock) is given back by reclaim() and reserve().
        Seconds visibility_timeout{30.0};
        /// Due times and timeouts come from here (null = SystemClock). Use a ManualClock in tests.
        std::shared_ptr<const Clock> clock;
        /// The largest message, encoded, that push and push_batch accept (0 = no limit; config
        /// `maxMessageBytes`). A bigger one that is already in a channel (pushed under a higher
        /// limit, or grown through its metadata) is handed out by reserve as poison, with its bytes.
        /// Settle pushes (retries, dead letters, follow-ups) are not refused: see docs/limits.md.
        std::size_t max_message_bytes = 0;
    };

    InMemoryAdapter();
    explicit InMemoryAdapter(Options options);
    ~InMemoryAdapter() override;

    /// @brief Everything (AdapterCapabilities::all()), with max_message_bytes from the options.
    AdapterCapabilities capabilities() const override;

    std::string push(const std::string& channel, Message message, Seconds delay = Seconds{0.0}) override;
    std::vector<std::string> push_batch(std::vector<OutgoingMessage> messages) override;
    std::vector<Delivery> reserve(const std::vector<std::string>& channels, std::size_t max_messages,
                                  std::chrono::milliseconds wait) override;
    void settle(const Delivery& delivery, Settlement&& settlement) override;
    void release(const Delivery& delivery, Seconds delay = Seconds{0.0}) override;
    std::size_t reclaim() override;
    MessageStatus status(const std::string& id) override;
    ChannelDepth depth(const std::string& channel) override;
    std::vector<Message> browse(const std::string& channel, std::size_t offset, std::size_t limit) override;
    /// Cursors `m:r:<arrival>` and `m:d:<due>:<push order>`: O(log n + limit) over the ready ones,
    /// O(delayed) over the delayed ones.
    BrowsePage browse_after(const std::string& channel, const BrowseCursor& after, std::size_t limit) override;
    std::size_t remove(const std::string& channel, const std::vector<std::string>& ids) override;
    std::size_t evict(const std::string& channel, const std::vector<std::string>& ids) override;
    std::uint64_t evicted(const std::string& channel) override;
    /// @brief One critical section: every message it moves leaves @p from and joins @p to together.
    /// The rewrite runs under the adapter's lock (keep it short; it must not call the adapter).
    /// Every waiting message of @p from with a requested id moves (also several with one id).
    MoveResult move(const std::string& from, const std::string& to, const std::vector<std::string>& ids,
                    const MessageRewrite& rewrite = {}, Seconds delay = Seconds{0.0}) override;
    std::vector<std::string> channels() override;

    /// @brief Stores @p bytes as they are in @p channel: how tests put undecodable (poison) data in.
    void push_raw(const std::string& channel, std::string bytes);

private:
    std::size_t remove_waiting(const std::string& channel, const std::vector<std::string>& ids, bool count);

    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace failpipe
