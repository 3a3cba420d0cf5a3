#include "failpipe/outcome.hpp"

#include "failpipe/delivery_event.hpp"

namespace failpipe {

std::string_view to_string(Outcome outcome) noexcept {
    switch (outcome) {
        case Outcome::succeeded: return "succeeded";
        case Outcome::retried: return "retried";
        case Outcome::dead_lettered: return "dead-lettered";
        case Outcome::dropped: return "dropped";
        case Outcome::released: return "released";
        case Outcome::settle_failed: return "settle-failed";
        case Outcome::left_with_broker: return "left-with-broker";
    }
    return "unknown";
}

namespace {
class FunctionObserver final : public DeliveryObserver {
public:
    explicit FunctionObserver(std::function<void(const DeliveryEvent&)> function) : function_(std::move(function)) {}
    // What the function throws goes to the worker, which logs it and carries on.
    void on_delivery(const DeliveryEvent& event) override { function_(event); }

private:
    std::function<void(const DeliveryEvent&)> function_;
};
}  // namespace

std::shared_ptr<DeliveryObserver> make_delivery_observer(std::function<void(const DeliveryEvent&)> function) {
    if (!function) return nullptr;
    return std::make_shared<FunctionObserver>(std::move(function));
}

}  // namespace failpipe
