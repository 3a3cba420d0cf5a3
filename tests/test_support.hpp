// Helpers shared by the core tests.
#pragma once

#include <failpipe/failpipe.hpp>

#include <memory>
#include <string>
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

template <class M, class... Args>
FailureMiddlewarePtr make(Args&&... args) {
    return std::make_shared<M>(std::forward<Args>(args)...);
}

}  // namespace failpipe::test
