#include "failpipe/failure_handling_request.hpp"

namespace failpipe {

FailureHandlingRequest::FailureHandlingRequest(Message message, std::string channel)
    : message_(std::move(message)), channel_(std::move(channel)) {}

}  // namespace failpipe
