/// @file fault_injection.hpp
/// @brief Injected faults: a test header that makes a handler fail in a chosen way, for trying a
/// pipeline against a live system (`failpipe inject`, docs/cli.md).
///
/// A message carries the header as metadata `failpipe-inject`: `{"kind": "transient"}` (kinds:
/// `transient`, `permanent`, `slow`, `crash`; `slow` may add `"seconds": 2.5`). Only handlers that
/// call apply_injected_fault() honour it: the header does nothing by itself. (`poison` is not a
/// header: `failpipe inject --kind poison` pushes bytes that are not a message, which the worker
/// dead-letters before any handler runs.)
#pragma once

#include <functional>
#include <optional>
#include <string_view>

#include "failpipe/clock.hpp"
#include "failpipe/error.hpp"
#include "failpipe/message.hpp"

namespace failpipe {

/// @brief The metadata key of the test header.
inline constexpr std::string_view kInjectMetadataKey = "failpipe-inject";

/// @brief How an injected message fails.
enum class InjectedFault {
    transient,  ///< the handler throws InjectedTransientError (classified transient: retried)
    permanent,  ///< the handler throws InjectedPermanentError (classified permanent: dead-lettered)
    poison,     ///< bytes that are not a message (pushed raw; never reaches a handler)
    slow,       ///< the handler sleeps `seconds` (default 2), then goes on normally
    crash,      ///< the handler's process dies (std::abort, unless the caller says otherwise)
};

/// @brief `transient`, `permanent`, `poison`, `slow`, `crash`.
std::string_view to_string(InjectedFault fault) noexcept;
/// @brief The fault named @p name, or nothing for an unknown name.
std::optional<InjectedFault> parse_injected_fault(std::string_view name) noexcept;

/// @brief A message's test header, read.
struct InjectedFaultSpec {
    InjectedFault kind = InjectedFault::transient;
    Seconds seconds{2.0};  ///< How long `slow` sleeps.
};

/// @brief Thrown by apply_injected_fault() for `transient`.
class InjectedTransientError : public TransientError {
public:
    using TransientError::TransientError;
};
/// @brief Thrown by apply_injected_fault() for `permanent`, and for a malformed header.
class InjectedPermanentError : public PermanentError {
public:
    using PermanentError::PermanentError;
};

/// @brief The header of @p message: nothing when it has none. Throws InjectedPermanentError for a
/// header that is not `{"kind": <known kind>[, "seconds": 0 … 3600]}`.
std::optional<InjectedFaultSpec> injected_fault(const Message& message);

/// @brief The header for @p spec, to put under kInjectMetadataKey.
nlohmann::json injected_fault_header(const InjectedFaultSpec& spec);

/// @brief Fails as @p message's header asks; returns at once when it has none. `transient` and
/// `permanent` throw; `slow` sleeps, then returns; `crash` calls @p on_crash, or std::abort() when it
/// is empty — a real crash: the delivery is never settled, comes back after the visibility timeout
/// and, past `maxDeliveries`, is dead-lettered with reason `max-deliveries`. A malformed header
/// throws InjectedPermanentError (it goes to the dead letters with the reason).
void apply_injected_fault(const Message& message, const std::function<void()>& on_crash = {});

}  // namespace failpipe
