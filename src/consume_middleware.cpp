#include "failpipe/consume_middleware.hpp"

namespace failpipe {
namespace {

class FunctionConsumeMiddleware final : public ConsumeMiddlewareInterface {
public:
    explicit FunctionConsumeMiddleware(
        std::function<void(const Message&, HandlerContext&, const ConsumeHandlerInterface&)> function)
        : function_(std::move(function)) {}
    void handle(const Message& message, HandlerContext& context, const ConsumeHandlerInterface& next) const override {
        function_(message, context, next);
    }

private:
    std::function<void(const Message&, HandlerContext&, const ConsumeHandlerInterface&)> function_;
};

}  // namespace

ConsumeMiddlewarePtr make_consume_middleware(
    std::function<void(const Message&, HandlerContext&, const ConsumeHandlerInterface&)> function) {
    return std::make_shared<FunctionConsumeMiddleware>(std::move(function));
}

}  // namespace failpipe
