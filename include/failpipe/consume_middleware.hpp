/// @file consume_middleware.hpp
/// @brief Consume middlewares: steps around every handler call (logging, metrics, TTL, ...).
#pragma once

#include <functional>
#include <memory>

#include "failpipe/handler_context.hpp"
#include "failpipe/message.hpp"

namespace failpipe {

/// @brief The rest of the consume pipeline, ending in the handler.
class ConsumeHandlerInterface {
public:
    virtual ~ConsumeHandlerInterface() = default;
    virtual void handle(const Message& message, HandlerContext& context) const = 0;
};

/// @brief One step around the handler. Throwing from it is a failure of the delivery like a
/// handler's own throw; returning without calling @p next skips the handler and acknowledges.
/// Shared by worker threads: handle() must be safe to call concurrently.
class ConsumeMiddlewareInterface {
public:
    virtual ~ConsumeMiddlewareInterface() = default;
    virtual void handle(const Message& message, HandlerContext& context, const ConsumeHandlerInterface& next) const = 0;
};

/// @brief How workers hold consume middlewares.
using ConsumeMiddlewarePtr = std::shared_ptr<const ConsumeMiddlewareInterface>;

/// @brief A consume middleware from a function `(message, context, next)`.
ConsumeMiddlewarePtr make_consume_middleware(
    std::function<void(const Message&, HandlerContext&, const ConsumeHandlerInterface&)> function);

}  // namespace failpipe
