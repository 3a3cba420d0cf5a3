/// @file error.hpp
/// @brief The failpipe error hierarchy: every failure the library reports derives from failpipe::Error.
///
/// Thread safety: error objects are plain values.
#pragma once

#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace failpipe {

/// @brief Root of every error failpipe throws.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// @brief A parameter given to a failpipe type is out of its domain (Yii's InvalidArgumentException).
class InvalidArgumentError : public Error {
public:
    using Error::Error;
};

/// @brief One problem found in a configuration document.
struct ConfigIssue {
    std::string path;     ///< JSON pointer of the offending value, e.g. `/pipelines/orders/0/maxAttempts`.
    std::string message;  ///< What was expected and what was found.
};

/// @brief A configuration document was refused. Carries every problem found, not only the first.
class ConfigError : public Error {
public:
    explicit ConfigError(std::vector<ConfigIssue> issues);
    /// @brief All problems, in document order.
    const std::vector<ConfigIssue>& issues() const noexcept { return issues_; }

private:
    std::vector<ConfigIssue> issues_;
};

/// @brief A broker operation failed.
class AdapterError : public Error {
public:
    using Error::Error;
};

/// @brief The broker could not be reached, or the connection broke. Retrying later may succeed.
class ConnectionError : public AdapterError {
public:
    using AdapterError::AdapterError;
};

/// @brief The broker did not answer in time.
class TimeoutError : public ConnectionError {
public:
    using ConnectionError::ConnectionError;
};

/// @brief A write (settle, release, push) was applied by the broker but not confirmed durable as
/// asked (Redis durability "replicas": `WAIT` saw fewer replicas than required in time). A failover
/// now could lose it. A ConnectionError because sending the same call again is safe and is how it
/// gets confirmed: a repeated settle is recognised as done by the earlier try (nothing is applied
/// twice) and is confirmed by the next round trip's WAIT. A repeated push stores the message again
/// (same id): retry a push only when a duplicate is acceptable. See docs/redis.md, "Durability".
class DurabilityError : public ConnectionError {
public:
    using ConnectionError::ConnectionError;
    /// @brief For a push or push_batch: @p stored_ids are the ids of the messages the broker stored.
    DurabilityError(const std::string& what, std::vector<std::string> stored_ids)
        : ConnectionError(what), stored_ids_(std::move(stored_ids)) {}
    /// @brief The ids of the messages the failed push or push_batch stored, in the order given, so a
    /// caller can name them instead of pushing again (which would store second copies); empty for
    /// a settle or a release.
    const std::vector<std::string>& stored_ids() const noexcept { return stored_ids_; }

private:
    std::vector<std::string> stored_ids_;
};

/// @brief The broker answered something the adapter did not expect (wrong type, error reply, bad data).
class ProtocolError : public AdapterError {
public:
    using AdapterError::AdapterError;
};

/// @brief A delivery was settled or released after the adapter had given it back (its visibility
/// timeout ran out) — another worker may hold it now, so nothing was changed.
class StaleDeliveryError : public AdapterError {
public:
    using AdapterError::AdapterError;
};

/// @brief Throw it (or a subclass) from a handler when trying again later may succeed. Classified `transient`.
class TransientError : public Error {
public:
    using Error::Error;
};

/// @brief Throw it (or a subclass) from a handler when trying again can never succeed. Classified `permanent`.
class PermanentError : public Error {
public:
    using Error::Error;
};

/// @brief No handler is registered for a message's handler name. Classified `permanent` and handled
/// by the failure pipeline like any other failure (Yii throws it outside the pipeline).
class NoHandlerError : public PermanentError {
public:
    using PermanentError::PermanentError;
};

/// @brief Bytes that do not decode to a message (poison). Classified `permanent`.
class DecodeError : public PermanentError {
public:
    using PermanentError::PermanentError;
};

/// @brief Thrown by a worker whose final behaviour is `rethrow` when no middleware handled a failure.
/// The delivery is left unsettled: the broker gives it back after its visibility timeout.
class MessageFailureError : public Error {
public:
    MessageFailureError(std::string message_id, std::string channel, std::exception_ptr cause, const std::string& what);
    const std::string& message_id() const noexcept { return message_id_; }
    const std::string& channel() const noexcept { return channel_; }
    /// @brief The handler's original exception.
    std::exception_ptr cause() const noexcept { return cause_; }

private:
    std::string message_id_;
    std::string channel_;
    std::exception_ptr cause_;
};

}  // namespace failpipe
