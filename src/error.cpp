#include "failpipe/error.hpp"

#include <utility>

namespace failpipe {
namespace {

std::string join_issues(const std::vector<ConfigIssue>& issues) {
    std::string text;
    for (const auto& issue : issues) {
        if (!text.empty()) text += '\n';
        text += issue.path.empty() ? std::string("/") : issue.path;
        text += ": ";
        text += issue.message;
    }
    return text.empty() ? std::string("invalid configuration") : text;
}

}  // namespace

ConfigError::ConfigError(std::vector<ConfigIssue> issues) : Error(join_issues(issues)), issues_(std::move(issues)) {}

MessageFailureError::MessageFailureError(std::string message_id, std::string channel, std::exception_ptr cause,
                                         const std::string& what)
    : Error("Processing of message " + (message_id.empty() ? std::string("without ID") : "#" + message_id) +
            " on channel \"" + channel + "\" is stopped because of an exception:\n" + what),
      message_id_(std::move(message_id)),
      channel_(std::move(channel)),
      cause_(std::move(cause)) {}

}  // namespace failpipe
