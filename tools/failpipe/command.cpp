#include "command.hpp"

#include <filesystem>
#include <ostream>

#include "failpipe/error.hpp"
#include "format.hpp"

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

void require_prefix(const std::string& prefix) {
    if (prefix.empty() || prefix.find_first_of("{}") != std::string::npos)
        throw UsageError("--prefix expects a non-empty key prefix without '{' or '}', found " + quote(prefix));
}

void print_config_issues(std::ostream& err, const std::string& file, const ConfigError& error) {
    for (const auto& issue : error.issues()) {
        // The document itself (a syntax error, an unreadable file) has the empty pointer. A key in
        // the path may hold control bytes: the line is printed as a table cell is.
        print_line(err, shorten(file) + ": " + (issue.path.empty() ? std::string() : shorten(issue.path) + ": ") +
                            issue.message);
    }
}

}  // namespace failpipe::cli
