/// @file failure.hpp
/// @brief Failure: what went wrong with a delivery, as the failure pipeline sees it.
#pragma once

#include <exception>
#include <optional>
#include <string>

#include "failpipe/clock.hpp"
#include "failpipe/error_class.hpp"

namespace failpipe {

/// @brief A caught exception, named and classified.
struct Failure {
    std::exception_ptr exception;   ///< The exception itself (may be null for synthetic failures such as poison).
    std::string type;               ///< Its dynamic type, demangled (`failpipe::TransientError`, `std::out_of_range`).
    std::string what;               ///< Its message (empty for an exception that is not a std::exception).
    ErrorClass error_class = ErrorClass::unknown;
    /// The delay hint of an exception implementing RetryAfterHint (see retry_after.hpp), as given:
    /// the middleware that uses it checks and caps it.
    std::optional<Seconds> retry_after = std::nullopt;
};

}  // namespace failpipe
