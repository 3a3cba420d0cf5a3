#include "command.hpp"

#include <filesystem>
#include <ostream>

#include "failpipe/error.hpp"

namespace failpipe::cli {

std::string Command::name() const {
    std::string out;
    for (const auto& w : words) {
        if (!out.empty()) out += ' ';
        out += w;
    }
    return out;
}

void require_file(const std::string& path) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (!std::filesystem::exists(status)) throw UsageError("no such file " + quote(path));
    if (std::filesystem::is_directory(status)) throw UsageError(quote(path) + " is a directory, not a file");
    // A FIFO would block until a writer comes, a device such as /dev/zero never ends. The loader
    // refuses them too (a file may change after this check); this gives the usage error at once.
    if (!std::filesystem::is_regular_file(status))
        throw UsageError(quote(path) + " is not a regular file (a FIFO, a device or a socket)");
}

void print_config_issues(std::ostream& err, const std::string& file, const ConfigError& error) {
    for (const auto& issue : error.issues()) {
        err << shorten(file) << ": ";
        // The document itself (a syntax error, an unreadable file) has the empty pointer.
        if (!issue.path.empty()) err << shorten(issue.path) << ": ";
        err << issue.message << '\n';
    }
}

}  // namespace failpipe::cli
