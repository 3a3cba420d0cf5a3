/// @file broker_adapter.hpp
/// @brief BrokerAdapter: the broker core a Worker needs — push, reserve, settle, release, reclaim.
///
/// Thread safety: every implementation shipped with failpipe is safe to share between threads
/// (one adapter, many workers). Errors surface as failpipe::AdapterError subclasses, never as a
/// silent false. The contract, with what each capability changes, is in docs/adapters.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <string>
#include <vector>

#include "failpipe/adapter_capabilities.hpp"
#include "failpipe/clock.hpp"
#include "failpipe/delivery.hpp"
#include "failpipe/message.hpp"
#include "failpipe/outgoing_message.hpp"
#include "failpipe/settlement.hpp"

namespace failpipe {

class PrometheusWriter;

/// @brief The broker core: what a Worker (and Queue) use. Nothing above it knows which broker is below.
class BrokerAdapter {
public:
    BrokerAdapter() = default;
    BrokerAdapter(const BrokerAdapter&) = delete;
    BrokerAdapter& operator=(const BrokerAdapter&) = delete;
    virtual ~BrokerAdapter() = default;

    /// @brief What this adapter offers. Callers check it before they use an operation it may lack.
    virtual AdapterCapabilities capabilities() const = 0;

    /// @brief Pushes @p message to @p channel, due after @p delay. Assigns an id when the message
    /// has none and returns the id. InvalidArgumentError for an empty channel, a negative delay or a
    /// message over AdapterCapabilities::max_message_bytes.
    virtual std::string push(const std::string& channel, Message message, Seconds delay = Seconds{0.0}) = 0;

    /// @brief Pushes many messages at once (one round trip where the broker allows). Returns their ids
    /// in order. Not atomic across messages unless the adapter says so.
    virtual std::vector<std::string> push_batch(std::vector<OutgoingMessage> messages) = 0;

    /// @brief Reserves up to @p max_messages due messages from @p channels (earlier channels first),
    /// waiting up to @p wait for the first one. Returns an empty vector when none came in time.
    /// Each delivery must then be settled or released; one that is not within the adapter's
    /// visibility timeout is given back by reclaim().
    virtual std::vector<Delivery> reserve(const std::vector<std::string>& channels, std::size_t max_messages,
                                          std::chrono::milliseconds wait) = 0;

    /// @brief Acknowledges @p delivery and applies every push of @p settlement in ONE atomic step
    /// (Capability::atomic_settle). Throws StaleDeliveryError (and changes nothing) when the delivery
    /// was already given back. The adapter moves from @p settlement only once it has succeeded: when
    /// it throws, the settlement is intact and may be sent again — a settle whose reply was lost must
    /// be safe to repeat (it must not duplicate the pushes).
    virtual void settle(const Delivery& delivery, Settlement&& settlement) = 0;

    /// @brief Settles many deliveries, each atomically on its own exactly as settle() would, in as
    /// few round trips as the broker allows. Returns one result per item: null when it was settled,
    /// else the exception settle() would have thrown for it (StaleDeliveryError: nothing changed).
    /// When the broker cannot be reached it throws ConnectionError; any of the items may then have
    /// been applied, and sending the same items again is safe. The default calls settle() in turn.
    virtual std::vector<std::exception_ptr> settle_batch(std::vector<SettleItem> items);

    /// @brief Gives @p delivery back to its channel, due after @p delay, without counting it as a
    /// delivery (Capability::uncounted_release; for a circuit breaker or a shutdown). Throws
    /// StaleDeliveryError when it was already given back.
    virtual void release(const Delivery& delivery, Seconds delay = Seconds{0.0}) = 0;

    /// @brief Gives back every delivery held longer than the visibility timeout (its worker vanished).
    /// Returns how many. Adapters also do this on their own while reserving.
    virtual std::size_t reclaim() = 0;

    /// @brief Writes the adapter's own figures for /metrics (serve_runtime() collects them; the Redis
    /// adapter's outbox relay lag, for instance). The default writes nothing.
    virtual void write_metrics(PrometheusWriter& writer);
};

}  // namespace failpipe
