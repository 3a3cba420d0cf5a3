// Layout, all under one mutex (so a settle is one critical section):
//  - per channel, a ring of ready entries (FIFO) and a heap of delayed ones (due time, then push
//    order); due entries move to the ring whenever the channel is touched. The heap holds small
//    keys and the delayed entries wait in a shared pool, so reordering the heap moves no message;
//  - reserved entries in a table of slots; a receipt names its slot and the slot's generation, so
//    settle and release are O(1) and a stale receipt is recognised without any search;
//  - visibility deadlines in reserve order, which is deadline order while the clock runs forward,
//    so reclaiming looks only at the front.
// Messages are stored as objects: a delivery costs one copy of its message and nothing else.
#include "failpipe/memory/in_memory_adapter.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include "failpipe/error.hpp"

namespace failpipe {
namespace detail::in_memory {

/// A FIFO in one growable circular buffer. std::deque allocates a block every few elements of a
/// message-sized type, which is heap churn on every push; this allocates only when it grows.
template <class T>
class Ring {
public:
    Ring() = default;
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;
    ~Ring() {
        clear();
        if (data_ != nullptr) std::allocator<T>{}.deallocate(data_, capacity_);
    }

    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    T& front() noexcept { return data_[head_]; }
    T& operator[](std::size_t i) noexcept { return data_[(head_ + i) & (capacity_ - 1)]; }
    const T& operator[](std::size_t i) const noexcept { return data_[(head_ + i) & (capacity_ - 1)]; }

    /// Makes room for @p n elements, so that as many push_back calls cannot throw.
    void reserve(std::size_t n) {
        if (n <= capacity_) return;
        std::size_t capacity = capacity_ == 0 ? 16 : capacity_;
        while (capacity < n) capacity *= 2;
        T* data = std::allocator<T>{}.allocate(capacity);
        for (std::size_t i = 0; i < size_; ++i) {
            T& old = (*this)[i];
            std::construct_at(data + i, std::move(old));
            std::destroy_at(&old);
        }
        if (data_ != nullptr) std::allocator<T>{}.deallocate(data_, capacity_);
        data_ = data;
        capacity_ = capacity;
        head_ = 0;
    }

    void push_back(T&& value) {
        if (size_ == capacity_) reserve(size_ + 1);
        std::construct_at(&data_[(head_ + size_) & (capacity_ - 1)], std::move(value));
        ++size_;
    }

    void pop_front() noexcept {
        std::destroy_at(&data_[head_]);
        head_ = (head_ + 1) & (capacity_ - 1);
        --size_;
    }

    void clear() noexcept {
        while (size_ != 0) pop_front();
        head_ = 0;
    }

    /// Removes the elements for which @p pred holds, keeping the order of the rest. Returns how many went.
    template <class Pred>
    std::size_t erase_if(Pred pred) {
        std::size_t kept = 0;
        for (std::size_t i = 0; i < size_; ++i) {
            T& value = (*this)[i];
            if (pred(value)) continue;
            if (kept != i) (*this)[kept] = std::move(value);
            ++kept;
        }
        const std::size_t removed = size_ - kept;
        for (std::size_t i = kept; i < size_; ++i) std::destroy_at(&(*this)[i]);
        size_ = kept;
        return removed;
    }

private:
    static_assert(std::is_nothrow_move_constructible_v<T> && std::is_nothrow_move_assignable_v<T>,
                  "growth and erase_if rely on moves that cannot fail half-way");
    T* data_ = nullptr;
    std::size_t capacity_ = 0;  // zero or a power of two, so an index wraps with a mask
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

/// Makes room for @p extra more elements, growing geometrically: vector::reserve(size() + 1) on
/// every push would reallocate every time.
template <class Vector>
void reserve_more(Vector& v, std::size_t extra) {
    const std::size_t needed = v.size() + extra;
    if (needed > v.capacity()) v.reserve(std::max(needed, 2 * v.capacity()));
}

/// A stored message. Messages pushed as bytes (push_raw) keep their bytes; `message.id` then
/// holds the id the adapter knows for them.
struct Entry {
    Message message;
    std::string raw;
    bool is_raw = false;
    std::uint32_t deliveries = 0;
    std::uint64_t arrival = 0;  // set on joining the ready ring, so the ring is sorted by it (browse_after)
};

struct DelayedKey {
    TimePoint due;
    std::uint64_t sequence;  // push order, breaks ties between equal due times
    std::uint32_t parked;    // where the entry waits in State::parked
};

/// Heap order: the earliest due (then the first pushed) on top.
struct DueLater {
    bool operator()(const DelayedKey& a, const DelayedKey& b) const noexcept {
        return a.due != b.due ? a.due > b.due : a.sequence > b.sequence;
    }
};

struct Channel {
    explicit Channel(std::string channel_name) : name(std::move(channel_name)) {}
    std::string name;
    Ring<Entry> ready;
    std::vector<DelayedKey> delayed;  // a binary heap ordered by DueLater
    std::size_t reserved = 0;
    std::uint64_t next_arrival = 1;

    void append_ready(Entry&& entry) noexcept {
        entry.arrival = next_arrival++;
        ready.push_back(std::move(entry));
    }
};

/// Where a reserved message waits for its settlement. A slot is reused once free; the generation
/// tells a current receipt from a stale one that names the same slot.
struct Slot {
    std::uint64_t generation = 0;  // 0 = free
    Channel* channel = nullptr;
    std::optional<Entry> entry;
};

struct Deadline {
    TimePoint at;
    std::uint32_t slot;
    std::uint64_t generation;
};

// The tick type holds about ±292 years of nanoseconds; longer delays mean "never" and must not
// overflow on the way.
constexpr double kMaxDelaySeconds = 9.0e9;

TimePoint due_after(TimePoint now, Seconds delay) {
    if (delay.count() >= kMaxDelaySeconds) return TimePoint::max();
    const auto ticks = to_clock_duration(delay);
    if (now.time_since_epoch().count() > 0 && ticks > TimePoint::max() - now) return TimePoint::max();
    return now + ticks;
}

void check_channel(const char* operation, const std::string& channel) {
    if (channel.empty()) {
        throw InvalidArgumentError(std::string("InMemoryAdapter::") + operation + ": the channel name is empty");
    }
}

void check_delay(const char* operation, Seconds delay) {
    if (!std::isfinite(delay.count()) || delay.count() < 0.0) {
        throw InvalidArgumentError(std::string("InMemoryAdapter::") + operation +
                                   ": expected a finite, non-negative delay in seconds, got " +
                                   std::to_string(delay.count()));
    }
}

void check_message(const char* operation, const Message& message) {
    // Stored messages are copied to every delivery, and a copy recurses once per level.
    check_message_depth(message, std::string("InMemoryAdapter::") + operation);
}

// Encodes only when there is a limit: the adapter stores values, not bytes.
void check_size(const char* operation, const Message& message, std::size_t limit) {
    if (limit == 0) return;
    check_message_size(message, encode_message(message).size(), limit, std::string("InMemoryAdapter::") + operation);
}

// A message bigger than the limit becomes poison on its way out, so a worker dead-letters it with
// its bytes and never runs its handler.
void poison_oversized(std::vector<Delivery>& deliveries, std::size_t limit) {
    if (limit == 0) return;
    for (auto& delivery : deliveries) {
        if (delivery.poisoned()) continue;
        std::string bytes = encode_message(delivery.message);
        std::string reason = oversize_reason(bytes.size(), limit);
        if (reason.empty()) continue;
        Message kept;
        kept.id = std::move(delivery.message.id);
        delivery.message = std::move(kept);
        delivery.raw = std::move(bytes);
        delivery.decode_error = std::move(reason);
    }
}

void check_pushes(const char* operation, const std::vector<OutgoingMessage>& pushes) {
    for (const auto& push : pushes) {
        check_channel(operation, push.channel);
        check_delay(operation, push.delay);
        check_message(operation, push.message);
    }
}

std::string make_receipt(std::uint32_t slot, std::uint64_t generation) {
    char buffer[32];
    char* end = std::to_chars(buffer, buffer + sizeof buffer, slot, 16).ptr;
    *end++ = '.';
    end = std::to_chars(end, buffer + sizeof buffer, generation, 16).ptr;
    return std::string(buffer, end);
}

std::optional<std::pair<std::uint32_t, std::uint64_t>> parse_receipt(std::string_view receipt) {
    const auto dot = receipt.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    std::uint32_t slot = 0;
    std::uint64_t generation = 0;
    const char* const first = receipt.data();
    const char* const last = first + receipt.size();
    auto [slot_end, slot_error] = std::from_chars(first, first + dot, slot, 16);
    if (slot_error != std::errc{} || slot_end != first + dot) return std::nullopt;
    auto [gen_end, gen_error] = std::from_chars(first + dot + 1, last, generation, 16);
    if (gen_error != std::errc{} || gen_end != last || generation == 0) return std::nullopt;
    return std::pair{slot, generation};
}

/// New ids for the pushes whose messages have none, aligned with @p pushes; empty when all have one.
std::vector<std::string> fresh_ids_for(const std::vector<OutgoingMessage>& pushes) {
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < pushes.size(); ++i) {
        if (!pushes[i].message.id.empty()) continue;
        if (ids.empty()) ids.resize(pushes.size());
        ids[i] = generate_message_id();
    }
    return ids;
}

/// The id a raw message is known by: the `id` of its JSON when it has one, else a fresh one.
std::string raw_id(const std::string& bytes) {
    const auto json = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
    if (json.is_object()) {
        const auto id = json.find("id");
        if (id != json.end() && id->is_string() && !id->get_ref<const std::string&>().empty()) {
            return id->get<std::string>();
        }
    }
    return generate_message_id();
}

/// The message as a worker or an operator sees it. Undecodable bytes come out with the error and
/// the bytes (as JSON binary, which serialises whatever they contain).
struct Decoded {
    Message message;
    std::string error;
};

Decoded decode_entry(const Entry& entry, std::size_t max_message_bytes = 0) {
    if (!entry.is_raw) return {entry.message, {}};
    Decoded decoded;
    if (auto too_big = oversize_reason(entry.raw.size(), max_message_bytes); !too_big.empty()) {
        decoded.message.id = entry.message.id;
        decoded.error = std::move(too_big);
        return decoded;
    }
    try {
        decoded.message = decode_message(entry.raw);
        if (decoded.message.id.empty()) decoded.message.id = entry.message.id;
    } catch (const DecodeError& e) {
        decoded.message = Message{};
        decoded.message.id = entry.message.id;
        decoded.error = e.what();
    }
    return decoded;
}

/// Reads the clock at most once per operation, and only when a delay or a promotion needs it.
struct LazyNow {
    const Clock& clock;
    TimePoint value{};
    bool read = false;
    TimePoint get() {
        if (!read) {
            value = clock.now();
            read = true;
        }
        return value;
    }
};

}  // namespace detail::in_memory

using detail::in_memory::Channel;
using detail::in_memory::Deadline;
using detail::in_memory::DelayedKey;
using detail::in_memory::DueLater;
using detail::in_memory::Entry;
using detail::in_memory::LazyNow;
using detail::in_memory::Ring;
using detail::in_memory::Slot;

struct InMemoryAdapter::State {
    Seconds visibility_timeout{};
    std::size_t max_message_bytes = 0;  // 0 = no limit; see Options
    std::shared_ptr<const Clock> clock;

    std::mutex mutex;
    std::condition_variable arrived;  // a message became available: pushed, released or reclaimed
    std::size_t waiters = 0;          // reserve calls sleeping on `arrived`; nobody to wake means no notify

    // Node-based, so the Channel* held by slots stays valid while channels are added.
    std::unordered_map<std::string, Channel> channels;
    std::unordered_map<std::string, std::uint64_t> evicted;  // AdapterInterface::evict's counters, by channel
    std::vector<std::optional<Entry>> parked;  // delayed entries, named by DelayedKey::parked
    std::vector<std::uint32_t> free_parked;    // capacity kept ≥ parked.size(), like free_slots
    std::vector<Slot> slots;
    std::vector<std::uint32_t> free_slots;  // capacity kept ≥ slots.size(), so freeing never allocates
    Ring<Deadline> deadlines;               // in reserve order, hence by deadline while the clock runs forward
    std::size_t reserved = 0;
    std::uint64_t next_generation = 1;
    std::uint64_t next_sequence = 0;
    std::vector<Channel*> targets;  // scratch for prepare_pushes, reused under the mutex

    Channel& channel(const std::string& name) {
        auto it = channels.find(name);
        if (it == channels.end()) it = channels.try_emplace(name, name).first;
        return it->second;
    }

    Channel* find_channel(const std::string& name) {
        auto it = channels.find(name);
        return it == channels.end() ? nullptr : &it->second;
    }

    /// Delayed messages that are due join the ready ones, in due order.
    void promote(Channel& ch, TimePoint now) {
        while (!ch.delayed.empty() && ch.delayed.front().due <= now) {
            ch.ready.reserve(ch.ready.size() + 1);  // so that nothing can fail once the key is off the heap
            std::pop_heap(ch.delayed.begin(), ch.delayed.end(), DueLater{});
            const std::uint32_t index = ch.delayed.back().parked;
            ch.delayed.pop_back();
            ch.append_ready(unpark(index));
        }
    }

    Entry unpark(std::uint32_t index) noexcept {
        Entry entry = std::move(*parked[index]);
        parked[index].reset();
        free_parked.push_back(index);
        return entry;
    }

    /// Appends @p entry to @p ch. The caller has made room (reserve_room) and, for a delay, read the
    /// clock into @p now, so nothing here throws and a settlement cannot stop half-applied.
    void enqueue(Channel& ch, Entry&& entry, Seconds delay, TimePoint now) noexcept {
        if (delay.count() <= 0.0) {
            ch.append_ready(std::move(entry));
        } else {
            std::uint32_t index = 0;
            if (free_parked.empty()) {
                index = static_cast<std::uint32_t>(parked.size());
                parked.emplace_back();  // within the capacity reserve_room made
            } else {
                index = free_parked.back();
                free_parked.pop_back();
            }
            parked[index].emplace(std::move(entry));
            ch.delayed.push_back(DelayedKey{detail::in_memory::due_after(now, delay), next_sequence++, index});
            std::push_heap(ch.delayed.begin(), ch.delayed.end(), DueLater{});
        }
    }

    /// Makes room for @p extra more entries in @p ch, ready or delayed, so that enqueue cannot fail.
    void reserve_room(Channel& ch, std::size_t extra) {
        ch.ready.reserve(ch.ready.size() + extra);
        detail::in_memory::reserve_more(ch.delayed, extra);
        if (free_parked.size() < extra) {
            detail::in_memory::reserve_more(parked, extra - free_parked.size());
            free_parked.reserve(parked.capacity());
        }
    }

    Slot* reserved_slot(const Delivery& delivery) {
        const auto parsed = detail::in_memory::parse_receipt(delivery.receipt);
        if (!parsed || parsed->first >= slots.size()) return nullptr;
        Slot& slot = slots[parsed->first];
        return slot.generation == parsed->second ? &slot : nullptr;
    }

    [[noreturn]] static void throw_stale(const char* operation, const Delivery& delivery) {
        throw StaleDeliveryError(std::string("InMemoryAdapter::") + operation + ": message " +
                                 (delivery.message.id.empty() ? std::string("without id") : "#" + delivery.message.id) +
                                 " on channel \"" + delivery.channel + "\" is no longer reserved under receipt \"" +
                                 delivery.receipt +
                                 "\" (its visibility timeout ran out, or it was already settled or released)");
    }

    /// Frees @p slot and hands its entry out.
    Entry take_slot(Slot& slot) noexcept {
        Entry entry = std::move(*slot.entry);
        slot.entry.reset();
        slot.generation = 0;
        --slot.channel->reserved;
        slot.channel = nullptr;
        --reserved;
        free_slots.push_back(static_cast<std::uint32_t>(&slot - slots.data()));
        return entry;
    }

    std::uint32_t allocate_slot() {
        if (free_slots.empty()) {
            slots.emplace_back();
            free_slots.reserve(slots.capacity());
            return static_cast<std::uint32_t>(slots.size() - 1);
        }
        const std::uint32_t index = free_slots.back();
        free_slots.pop_back();
        return index;
    }

    bool live(const Deadline& deadline) const noexcept { return slots[deadline.slot].generation == deadline.generation; }

    /// Drops the bookkeeping of deliveries already settled, so the deadline queue stays about as
    /// long as the number of deliveries held.
    void prune_deadlines() noexcept {
        while (!deadlines.empty() && !live(deadlines.front())) deadlines.pop_front();
        if (deadlines.size() > 2 * reserved + 64) {
            deadlines.erase_if([this](const Deadline& d) { return !live(d); });
        }
    }

    std::size_t reclaim(TimePoint now) {
        std::size_t count = 0;
        while (!deadlines.empty() && deadlines.front().at <= now) {
            const Deadline deadline = deadlines.front();
            if (live(deadline)) {
                Slot& slot = slots[deadline.slot];
                Channel& ch = *slot.channel;
                // Promotion and room first: should either fail, the delivery stays reserved and is
                // reclaimed next time.
                promote(ch, now);
                ch.ready.reserve(ch.ready.size() + 1);
                // The delivery count stays: a message that keeps killing its workers must show it.
                ch.append_ready(take_slot(slot));
                ++count;
            }
            deadlines.pop_front();
        }
        prune_deadlines();
        return count;
    }

    /// First half of applying pushes: everything that may throw (creating channels, making room,
    /// promoting due messages, none of which a user can observe). Fills `targets`.
    void prepare_pushes(const std::vector<OutgoingMessage>& pushes, LazyNow& now) {
        targets.clear();
        targets.reserve(pushes.size());
        for (const auto& push : pushes) {
            Channel& ch = channel(push.channel);
            // A message due now goes behind those that fell due earlier.
            if (!ch.delayed.empty()) promote(ch, now.get());
            if (push.delay.count() > 0.0) now.get();
            reserve_room(ch, pushes.size());
            targets.push_back(&ch);
        }
    }

    /// Second half: cannot fail, so a settlement is never applied in part. @p fresh_ids is empty,
    /// or holds the id for each push whose message has none.
    void commit_pushes(std::vector<OutgoingMessage>& pushes, std::vector<std::string>& fresh_ids,
                       LazyNow& now) noexcept {
        for (std::size_t i = 0; i < pushes.size(); ++i) {
            Entry entry{std::move(pushes[i].message), {}, false, 0};
            if (entry.message.id.empty()) entry.message.id = std::move(fresh_ids[i]);
            enqueue(*targets[i], std::move(entry), pushes[i].delay, now.value);
        }
    }

    /// Moves due messages of @p names into @p out, earlier channels first.
    void take(const std::vector<std::string>& names, std::size_t max_messages, TimePoint now, std::vector<Delivery>& out) {
        const TimePoint deadline = detail::in_memory::due_after(now, visibility_timeout);
        for (const auto& name : names) {
            if (out.size() >= max_messages) return;
            Channel* ch = find_channel(name);
            if (ch == nullptr) continue;
            promote(*ch, now);
            while (!ch->ready.empty() && out.size() < max_messages) {
                deadlines.reserve(deadlines.size() + 1);
                const std::uint32_t index = allocate_slot();
                Slot& slot = slots[index];
                slot.entry.emplace(std::move(ch->ready.front()));
                ch->ready.pop_front();
                slot.generation = next_generation++;
                slot.channel = ch;
                ++ch->reserved;
                ++reserved;
                const Entry& entry = *slot.entry;
                ++slot.entry->deliveries;
                deadlines.push_back(Deadline{deadline, index, slot.generation});

                if (!entry.is_raw) {
                    // Copy-constructed in place: the message is the only allocation a delivery costs.
                    out.push_back(Delivery{name, detail::in_memory::make_receipt(index, slot.generation), entry.message,
                                           entry.deliveries, {}, {}});
                    continue;
                }
                auto decoded = detail::in_memory::decode_entry(entry, max_message_bytes);
                Delivery& delivery = out.emplace_back();
                delivery.channel = name;
                delivery.receipt = detail::in_memory::make_receipt(index, slot.generation);
                delivery.deliveries = entry.deliveries;
                delivery.message = std::move(decoded.message);
                if (!decoded.error.empty()) {
                    delivery.decode_error = std::move(decoded.error);
                    delivery.raw = entry.raw;
                }
            }
        }
    }

    /// When the next message of @p names (or a reclaim) could become due by the clock, if any.
    std::optional<TimePoint> next_event(const std::vector<std::string>& names) {
        std::optional<TimePoint> next;
        for (const auto& name : names) {
            Channel* ch = find_channel(name);
            if (ch != nullptr && !ch->delayed.empty() && (!next || ch->delayed.front().due < *next)) {
                next = ch->delayed.front().due;
            }
        }
        if (!deadlines.empty() && (!next || deadlines.front().at < *next)) next = deadlines.front().at;
        return next;
    }

    void wake_reservers(std::unique_lock<std::mutex>& lock) {
        const bool someone_waits = waiters != 0;
        lock.unlock();
        if (someone_waits) arrived.notify_all();
    }
};

namespace {

/// Counts a reserve call as sleeping for as long as it sleeps.
class WaiterScope {
public:
    explicit WaiterScope(std::size_t& waiters) noexcept : waiters_(waiters) { ++waiters_; }
    WaiterScope(const WaiterScope&) = delete;
    WaiterScope& operator=(const WaiterScope&) = delete;
    ~WaiterScope() { --waiters_; }

private:
    std::size_t& waiters_;
};

}  // namespace

InMemoryAdapter::InMemoryAdapter() : InMemoryAdapter(Options{}) {}

AdapterCapabilities InMemoryAdapter::capabilities() const {
    AdapterCapabilities capabilities = AdapterCapabilities::all();
    capabilities.max_message_bytes = state_->max_message_bytes;
    return capabilities;
}

InMemoryAdapter::InMemoryAdapter(Options options) : state_(std::make_unique<State>()) {
    const double timeout = options.visibility_timeout.count();
    if (!std::isfinite(timeout) || timeout <= 0.0 || timeout >= detail::in_memory::kMaxDelaySeconds) {
        throw InvalidArgumentError("InMemoryAdapter: visibility_timeout must be a finite number of seconds, > 0 and < 9e9, got " +
                                   std::to_string(timeout));
    }
    state_->visibility_timeout = options.visibility_timeout;
    state_->max_message_bytes = options.max_message_bytes;
    state_->clock = options.clock ? std::move(options.clock) : std::make_shared<SystemClock>();
}

InMemoryAdapter::~InMemoryAdapter() = default;

std::string InMemoryAdapter::push(const std::string& channel, Message message, Seconds delay) {
    detail::in_memory::check_channel("push", channel);
    detail::in_memory::check_delay("push", delay);
    detail::in_memory::check_message("push", message);
    if (message.id.empty()) message.id = generate_message_id();
    detail::in_memory::check_size("push", message, state_->max_message_bytes);
    std::string id = message.id;
    State& s = *state_;
    std::unique_lock lock(s.mutex);
    LazyNow now{*s.clock};
    Channel& ch = s.channel(channel);
    if (!ch.delayed.empty()) s.promote(ch, now.get());
    if (delay.count() > 0.0) now.get();
    s.reserve_room(ch, 1);
    s.enqueue(ch, Entry{std::move(message), {}, false, 0}, delay, now.value);
    s.wake_reservers(lock);
    return id;
}

std::vector<std::string> InMemoryAdapter::push_batch(std::vector<OutgoingMessage> messages) {
    detail::in_memory::check_pushes("push_batch", messages);
    std::vector<std::string> ids;
    ids.reserve(messages.size());
    for (auto& push : messages) {
        if (push.message.id.empty()) push.message.id = generate_message_id();
        ids.push_back(push.message.id);
    }
    // All checked before any is stored: a batch with one message too big stores none.
    for (const auto& push : messages) detail::in_memory::check_size("push_batch", push.message, state_->max_message_bytes);
    if (messages.empty()) return ids;
    std::vector<std::string> no_fresh_ids;
    State& s = *state_;
    std::unique_lock lock(s.mutex);
    LazyNow now{*s.clock};
    s.prepare_pushes(messages, now);
    s.commit_pushes(messages, no_fresh_ids, now);
    s.wake_reservers(lock);
    return ids;
}

void InMemoryAdapter::push_raw(const std::string& channel, std::string bytes) {
    detail::in_memory::check_channel("push_raw", channel);
    Entry entry;
    entry.message.id = detail::in_memory::raw_id(bytes);
    entry.raw = std::move(bytes);
    entry.is_raw = true;
    State& s = *state_;
    std::unique_lock lock(s.mutex);
    Channel& ch = s.channel(channel);
    if (!ch.delayed.empty()) s.promote(ch, s.clock->now());
    s.reserve_room(ch, 1);
    s.enqueue(ch, std::move(entry), Seconds{0.0}, TimePoint{});
    s.wake_reservers(lock);
}

std::vector<Delivery> InMemoryAdapter::reserve(const std::vector<std::string>& channels, std::size_t max_messages,
                                               std::chrono::milliseconds wait) {
    if (channels.empty()) throw InvalidArgumentError("InMemoryAdapter::reserve: no channels given");
    for (const auto& name : channels) detail::in_memory::check_channel("reserve", name);
    if (max_messages == 0) throw InvalidArgumentError("InMemoryAdapter::reserve: max_messages must be at least 1");
    if (wait.count() < 0) {
        throw InvalidArgumentError("InMemoryAdapter::reserve: wait must not be negative, got " +
                                   std::to_string(wait.count()) + " ms");
    }
    std::vector<Delivery> out;
    State& s = *state_;
    const auto give_up = std::chrono::steady_clock::now() + wait;
    std::unique_lock lock(s.mutex);
    for (;;) {
        const TimePoint now = s.clock->now();
        if (s.reclaim(now) != 0 && s.waiters != 0) s.arrived.notify_all();
        out.reserve(std::min<std::size_t>(max_messages, 64));
        s.take(channels, max_messages, now, out);
        if (!out.empty() || wait.count() == 0) {
            lock.unlock();
            detail::in_memory::poison_oversized(out, s.max_message_bytes);
            return out;
        }

        const auto real_now = std::chrono::steady_clock::now();
        if (real_now >= give_up) return out;
        // Sleep until a push wakes us, the wait ends, or (by the clock) a delayed message falls due
        // or a delivery times out. With a manual clock the latter is only a hint: waking early
        // merely re-checks.
        auto sleep = give_up - real_now;
        if (const auto next = s.next_event(channels)) {
            const auto until_due = std::chrono::ceil<std::chrono::steady_clock::duration>(*next - now);
            sleep = std::min(sleep, std::max(until_due, std::chrono::steady_clock::duration{std::chrono::microseconds{100}}));
        }
        WaiterScope waiting(s.waiters);
        s.arrived.wait_for(lock, sleep);
    }
}

void InMemoryAdapter::settle(const Delivery& delivery, Settlement&& settlement) {
    detail::in_memory::check_pushes("settle", settlement.pushes);
    // Ids are drawn aside: should the settle fail, the caller's settlement must be as it was.
    std::vector<std::string> fresh_ids = detail::in_memory::fresh_ids_for(settlement.pushes);
    State& s = *state_;
    std::unique_lock lock(s.mutex);
    Slot* slot = s.reserved_slot(delivery);
    if (slot == nullptr) State::throw_stale("settle", delivery);
    LazyNow now{*s.clock};
    s.prepare_pushes(settlement.pushes, now);
    // From here on nothing can fail: the acknowledgement and the pushes happen together.
    const Entry acknowledged = s.take_slot(*slot);
    s.commit_pushes(settlement.pushes, fresh_ids, now);
    s.prune_deadlines();
    const bool wake = !settlement.pushes.empty() && s.waiters != 0;
    lock.unlock();  // the acknowledged message is freed outside the critical section
    if (wake) s.arrived.notify_all();
}

void InMemoryAdapter::release(const Delivery& delivery, Seconds delay) {
    detail::in_memory::check_delay("release", delay);
    State& s = *state_;
    std::unique_lock lock(s.mutex);
    Slot* slot = s.reserved_slot(delivery);
    if (slot == nullptr) State::throw_stale("release", delivery);
    Channel& ch = *slot->channel;
    LazyNow now{*s.clock};
    if (!ch.delayed.empty()) s.promote(ch, now.get());
    if (delay.count() > 0.0) now.get();
    s.reserve_room(ch, 1);
    Entry entry = s.take_slot(*slot);
    // A release is not a delivery: the next reserve shows the same count as this one did.
    if (entry.deliveries > 0) --entry.deliveries;
    s.enqueue(ch, std::move(entry), delay, now.value);
    s.prune_deadlines();
    s.wake_reservers(lock);
}

std::size_t InMemoryAdapter::reclaim() {
    State& s = *state_;
    std::unique_lock lock(s.mutex);
    const std::size_t count = s.reclaim(s.clock->now());
    if (count != 0) s.wake_reservers(lock);
    return count;
}

MessageStatus InMemoryAdapter::status(const std::string& id) {
    State& s = *state_;
    std::lock_guard lock(s.mutex);
    const TimePoint now = s.clock->now();
    for (auto& [name, ch] : s.channels) {
        s.promote(ch, now);
        for (std::size_t i = 0; i < ch.ready.size(); ++i) {
            if (ch.ready[i].message.id == id) return {MessageState::ready, name};
        }
        for (const auto& key : ch.delayed) {
            if (s.parked[key.parked]->message.id == id) return {MessageState::delayed, name};
        }
    }
    for (const auto& slot : s.slots) {
        if (slot.entry && slot.entry->message.id == id) return {MessageState::reserved, slot.channel->name};
    }
    return {};
}

ChannelDepth InMemoryAdapter::depth(const std::string& channel) {
    detail::in_memory::check_channel("depth", channel);
    State& s = *state_;
    std::lock_guard lock(s.mutex);
    Channel* ch = s.find_channel(channel);
    if (ch == nullptr) return {};
    if (!ch->delayed.empty()) s.promote(*ch, s.clock->now());
    return {ch->ready.size(), ch->delayed.size(), ch->reserved};
}

namespace detail::in_memory {
namespace {

/// A waiting message as browse shows it: undecodable bytes are listed too (so that offsets agree
/// with depth()), the bytes as JSON binary, which serialises whatever they contain.
Message browsed(const Entry& entry) {
    auto decoded = decode_entry(entry);
    if (!decoded.error.empty()) {
        decoded.message.data = nlohmann::json::binary(std::vector<std::uint8_t>(entry.raw.begin(), entry.raw.end()));
        decoded.message.metadata["failpipe-decode-error"] = decoded.error;
    }
    return std::move(decoded.message);
}

/// Where browse_after continues: after the ready entry `arrival`, or after the delayed key
/// (due, sequence); nothing = from the start.
struct MemoryCursor {
    bool delayed = false;
    std::uint64_t arrival = 0;
    std::int64_t due = 0;
    std::uint64_t sequence = 0;
};

template <class Int>
bool parse_int(std::string_view text, Int& out) {
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return !text.empty() && ec == std::errc{} && end == text.data() + text.size();
}

std::optional<MemoryCursor> parse_cursor(std::string_view text) {
    MemoryCursor cursor;
    if (text.starts_with("m:r:")) return parse_int(text.substr(4), cursor.arrival) ? std::optional(cursor) : std::nullopt;
    if (!text.starts_with("m:d:")) return std::nullopt;
    text.remove_prefix(4);
    const auto colon = text.find(':');
    cursor.delayed = true;
    if (colon == std::string_view::npos || !parse_int(text.substr(0, colon), cursor.due) ||
        !parse_int(text.substr(colon + 1), cursor.sequence))
        return std::nullopt;
    return cursor;
}

std::string delayed_cursor(const DelayedKey& key) {
    return "m:d:" + std::to_string(key.due.time_since_epoch().count()) + ":" + std::to_string(key.sequence);
}

}  // namespace
}  // namespace detail::in_memory

std::vector<Message> InMemoryAdapter::browse(const std::string& channel, std::size_t offset, std::size_t limit) {
    detail::in_memory::check_channel("browse", channel);
    std::vector<Message> out;
    if (limit == 0) return out;
    State& s = *state_;
    std::lock_guard lock(s.mutex);
    Channel* ch = s.find_channel(channel);
    if (ch == nullptr) return out;
    if (!ch->delayed.empty()) s.promote(*ch, s.clock->now());

    std::size_t index = offset;
    for (; index < ch->ready.size() && out.size() < limit; ++index) out.push_back(detail::in_memory::browsed(ch->ready[index]));
    if (out.size() == limit) return out;

    std::vector<DelayedKey> delayed = ch->delayed;
    std::sort(delayed.begin(), delayed.end(), [](const DelayedKey& a, const DelayedKey& b) { return DueLater{}(b, a); });
    const std::size_t skip = offset > ch->ready.size() ? offset - ch->ready.size() : 0;
    for (std::size_t i = skip; i < delayed.size() && out.size() < limit; ++i)
        out.push_back(detail::in_memory::browsed(*s.parked[delayed[i].parked]));
    return out;
}

BrowsePage InMemoryAdapter::browse_after(const std::string& channel, const BrowseCursor& after, std::size_t limit) {
    detail::in_memory::check_channel("browse_after", channel);
    if (limit == 0) throw InvalidArgumentError("InMemoryAdapter::browse_after: limit must be at least 1");
    detail::in_memory::MemoryCursor cursor;
    if (!after.empty()) {
        auto parsed = detail::in_memory::parse_cursor(after);
        if (!parsed) throw InvalidArgumentError("InMemoryAdapter::browse_after: not a cursor of this adapter: " + after.substr(0, 64));
        cursor = *parsed;
    }
    BrowsePage page;
    page.next = after;
    page.end = true;
    State& s = *state_;
    std::lock_guard lock(s.mutex);
    Channel* ch = s.find_channel(channel);
    if (ch == nullptr) return page;
    if (!ch->delayed.empty()) s.promote(*ch, s.clock->now());

    if (!cursor.delayed) {
        // The ring is sorted by arrival: binary search for the first entry after the cursor.
        std::size_t lo = 0, hi = ch->ready.size();
        while (lo < hi) {
            const std::size_t mid = lo + (hi - lo) / 2;
            if (ch->ready[mid].arrival <= cursor.arrival) lo = mid + 1;
            else hi = mid;
        }
        for (std::size_t i = lo; i < ch->ready.size(); ++i) {
            if (page.messages.size() == limit) {
                page.end = false;
                return page;
            }
            page.messages.push_back(detail::in_memory::browsed(ch->ready[i]));
            page.next = "m:r:" + std::to_string(ch->ready[i].arrival);
        }
    }
    // Delayed keys after the cursor, the first limit + 1 of them in due order.
    const auto later = [](const DelayedKey& a, const DelayedKey& b) { return DueLater{}(b, a); };
    std::vector<DelayedKey> keys;
    for (const DelayedKey& key : ch->delayed) {
        const auto due = key.due.time_since_epoch().count();
        if (cursor.delayed && (due < cursor.due || (due == cursor.due && key.sequence <= cursor.sequence))) continue;
        keys.push_back(key);
    }
    const std::size_t room = limit - page.messages.size() + 1;
    const auto stop = keys.begin() + static_cast<std::ptrdiff_t>(std::min(room, keys.size()));
    std::partial_sort(keys.begin(), stop, keys.end(), later);
    for (auto it = keys.begin(); it != stop; ++it) {
        if (page.messages.size() == limit) {
            page.end = false;
            return page;
        }
        page.messages.push_back(detail::in_memory::browsed(*s.parked[it->parked]));
        page.next = detail::in_memory::delayed_cursor(*it);
    }
    return page;
}

std::size_t InMemoryAdapter::remove(const std::string& channel, const std::vector<std::string>& ids) {
    detail::in_memory::check_channel("remove", channel);
    return remove_waiting(channel, ids, false);
}

std::size_t InMemoryAdapter::evict(const std::string& channel, const std::vector<std::string>& ids) {
    detail::in_memory::check_channel("evict", channel);
    return remove_waiting(channel, ids, true);
}

std::uint64_t InMemoryAdapter::evicted(const std::string& channel) {
    detail::in_memory::check_channel("evicted", channel);
    State& s = *state_;
    std::lock_guard lock(s.mutex);
    const auto it = s.evicted.find(channel);
    return it == s.evicted.end() ? 0 : it->second;
}

std::size_t InMemoryAdapter::remove_waiting(const std::string& channel, const std::vector<std::string>& ids, bool count) {
    if (ids.empty()) return 0;
    const std::unordered_set<std::string_view> wanted(ids.begin(), ids.end());
    State& s = *state_;
    std::size_t removed = 0;
    {
        std::lock_guard lock(s.mutex);
        Channel* ch = s.find_channel(channel);
        if (ch == nullptr) return 0;
        auto matches = [&wanted](const Entry& entry) { return wanted.contains(entry.message.id); };
        removed += ch->ready.erase_if(matches);
        // The predicate runs once per key (remove_if's guarantee), so it can free what it removes.
        removed += std::erase_if(ch->delayed, [&](const DelayedKey& key) {
            if (!matches(*s.parked[key.parked])) return false;
            s.unpark(key.parked);
            return true;
        });
        std::make_heap(ch->delayed.begin(), ch->delayed.end(), DueLater{});
        // Counted under the same lock as the removal: no eviction is ever seen without its count.
        if (count && removed > 0) s.evicted[channel] += removed;
    }
    return removed;
}

namespace detail::in_memory {

/// A waiting message of the source channel that a move takes (or skips).
struct MoveCandidate {
    std::size_t rank;             // its id's place among the requested ids
    std::size_t position;         // its place in the ready ring, or its parked index when delayed
    bool delayed;
    std::optional<Entry> rewritten;  // the message to store instead of the source entry
    std::optional<MoveSkip> skip;    // set when it stays where it is
};

void check_move(const std::string& from, const std::string& to, Seconds delay) {
    check_channel("move", from);
    check_channel("move", to);
    check_delay("move", delay);
    if (from == to) throw InvalidArgumentError("InMemoryAdapter::move: the source and target channel are the same (\"" + from + "\")");
}

/// Runs @p rewrite on a copy of @p entry's message. Returns the new entry, or why it cannot move.
std::variant<Entry, MoveSkip> rewritten_entry(const Entry& entry, const MessageRewrite& rewrite) {
    auto decoded = decode_entry(entry);
    if (!decoded.error.empty()) return MoveSkip{entry.message.id, MoveSkipReason::undecodable, decoded.error};
    Message& message = decoded.message;
    try {
        rewrite(message);
    } catch (const std::exception& e) {
        return MoveSkip{entry.message.id, MoveSkipReason::rewrite_failed, e.what()};
    } catch (...) {
        return MoveSkip{entry.message.id, MoveSkipReason::rewrite_failed, "the rewrite threw a non-standard exception"};
    }
    if (message.id != entry.message.id) {
        return MoveSkip{entry.message.id, MoveSkipReason::rewrite_failed, "the rewrite changed the id to \"" + message.id + "\""};
    }
    return Entry{std::move(message), {}, false, 0};
}

}  // namespace detail::in_memory

MoveResult InMemoryAdapter::move(const std::string& from, const std::string& to, const std::vector<std::string>& ids,
                                 const MessageRewrite& rewrite, Seconds delay) {
    using detail::in_memory::MoveCandidate;
    detail::in_memory::check_move(from, to, delay);
    std::vector<std::string_view> wanted;  // the requested ids, each once, in order
    std::unordered_map<std::string_view, std::size_t> rank;
    for (const auto& id : ids) {
        if (rank.try_emplace(id, wanted.size()).second) wanted.push_back(id);
    }
    MoveResult result;
    if (wanted.empty()) return result;
    std::vector<MoveCandidate> candidates;
    std::vector<bool> settled(wanted.size(), false);  // moved, or skipped for a reason of its own
    State& s = *state_;
    std::unique_lock lock(s.mutex);
    LazyNow now{*s.clock};
    Channel* source = s.find_channel(from);
    if (source != nullptr) {
        if (!source->delayed.empty()) s.promote(*source, now.get());
        for (std::size_t i = 0; i < source->ready.size(); ++i) {
            const auto found = rank.find(source->ready[i].message.id);
            if (found != rank.end()) candidates.push_back(MoveCandidate{found->second, i, false, {}, {}});
        }
        for (const auto& key : source->delayed) {
            const auto found = rank.find(s.parked[key.parked]->message.id);
            if (found != rank.end()) candidates.push_back(MoveCandidate{found->second, key.parked, true, {}, {}});
        }
    }
    // First half: everything that may fail or run user code, before any message is touched.
    for (auto& candidate : candidates) {
        const Entry& entry = candidate.delayed ? *s.parked[candidate.position] : source->ready[candidate.position];
        settled[candidate.rank] = true;
        if (!rewrite) continue;
        auto outcome = detail::in_memory::rewritten_entry(entry, rewrite);
        if (auto* skip = std::get_if<MoveSkip>(&outcome)) {
            candidate.skip = std::move(*skip);
        } else {
            candidate.rewritten.emplace(std::move(std::get<Entry>(outcome)));
        }
    }
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const MoveCandidate& a, const MoveCandidate& b) { return a.rank < b.rank; });
    const auto moving = static_cast<std::size_t>(
        std::count_if(candidates.begin(), candidates.end(), [](const MoveCandidate& c) { return !c.skip; }));
    result.moved.reserve(moving);
    std::vector<bool> taken(source != nullptr ? source->ready.size() : 0, false);
    std::unordered_set<std::uint32_t> taken_parked;
    taken_parked.reserve(moving);
    Channel* target = nullptr;
    if (moving != 0) {
        target = &s.channel(to);
        if (!target->delayed.empty()) s.promote(*target, now.get());
        if (delay.count() > 0.0) now.get();
        s.reserve_room(*target, moving);
        for (const auto& candidate : candidates) {
            if (candidate.skip) continue;
            result.moved.emplace_back(wanted[candidate.rank]);
            if (candidate.delayed) taken_parked.insert(static_cast<std::uint32_t>(candidate.position));
        }
    }
    // Second half: cannot fail, so no message is ever in both channels or in neither.
    for (auto& candidate : candidates) {
        if (candidate.skip) continue;
        Entry entry = candidate.rewritten ? std::move(*candidate.rewritten)
                      : candidate.delayed ? std::move(*s.parked[candidate.position])
                                          : std::move(source->ready[candidate.position]);
        entry.deliveries = 0;  // a moved message starts over in its new channel
        s.enqueue(*target, std::move(entry), delay, now.value);
        if (!candidate.delayed) taken[candidate.position] = true;
    }
    if (moving != 0) {
        std::size_t position = 0;  // erase_if visits the ring in order, once per element
        source->ready.erase_if([&](const Entry&) { return taken[position++]; });
        if (!taken_parked.empty()) {
            std::erase_if(source->delayed, [&](const DelayedKey& key) {
                if (!taken_parked.contains(key.parked)) return false;
                s.unpark(key.parked);
                return true;
            });
            std::make_heap(source->delayed.begin(), source->delayed.end(), DueLater{});
        }
    }
    // Why the others stay: a reason of their own, else held by a worker, else not there.
    std::vector<std::optional<MoveSkip>> reasons(wanted.size());
    std::vector<bool> moved(wanted.size(), false);
    for (const auto& candidate : candidates) {
        if (!candidate.skip) moved[candidate.rank] = true;
    }
    for (auto& candidate : candidates) {
        if (candidate.skip && !moved[candidate.rank] && !reasons[candidate.rank]) reasons[candidate.rank] = std::move(candidate.skip);
    }
    std::unordered_set<std::string_view> held;  // ids of the source's reserved messages
    if (source != nullptr && source->reserved != 0 && std::find(settled.begin(), settled.end(), false) != settled.end()) {
        for (const auto& slot : s.slots) {
            if (slot.entry && slot.channel == source) held.insert(slot.entry->message.id);
        }
    }
    for (std::size_t r = 0; r < wanted.size(); ++r) {
        if (settled[r]) continue;
        const auto reason = held.contains(wanted[r]) ? MoveSkipReason::reserved : MoveSkipReason::not_found;
        reasons[r] = MoveSkip{std::string(wanted[r]), reason, {}};
    }
    if (moving != 0) {
        s.wake_reservers(lock);
    } else {
        lock.unlock();
    }
    for (auto& reason : reasons) {
        if (reason) result.skipped.push_back(std::move(*reason));
    }
    return result;
}

std::vector<std::string> InMemoryAdapter::channels() {
    std::vector<std::string> names;
    {
        std::lock_guard lock(state_->mutex);
        names.reserve(state_->channels.size());
        for (const auto& entry : state_->channels) names.push_back(entry.first);
    }
    std::sort(names.begin(), names.end());
    return names;
}

}  // namespace failpipe
