// The built-in middleware types: the one place each is registered (see builtin_middlewares.cpp).
#pragma once

#include <string_view>
#include <vector>

#include "failpipe/config_reader.hpp"
#include "failpipe/failure_middleware.hpp"
#include "failpipe/middleware_registry.hpp"

namespace failpipe::detail {

/// One built-in middleware type: everything the library knows about it, in one row.
struct BuiltinMiddleware {
    std::string_view type;                                  ///< Its `type` in a config document.
    std::vector<std::string_view> parameters;               ///< Its keys besides `type`; any other is refused.
    FailureMiddlewarePtr (*build)(ConfigObjectReader&);     ///< Reads and checks the parameters, builds it.
    bool (*is_instance)(const MiddlewareFailureInterface&); ///< True for a middleware of this type.
};

/// Every built-in type, in registration order.
const std::vector<BuiltinMiddleware>& builtin_middlewares();

/// Adds every built-in type to @p registry; each factory first refuses keys not in its row.
void register_builtins(MiddlewareRegistry& registry);

/// True when @p middleware is of a built-in type. Built-ins never throw from handle() and always
/// decide, so the worker need not keep a copy of a message only they will handle.
bool is_builtin_middleware(const MiddlewareFailureInterface& middleware);

}  // namespace failpipe::detail
