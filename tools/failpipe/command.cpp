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
}

void print_config_issues(std::ostream& err, const std::string& file, const ConfigError& error) {
    for (const auto& issue : error.issues()) {
        err << file << ": ";
        // The document itself (a syntax error, an unreadable file) has the empty pointer.
        if (!issue.path.empty()) err << issue.path << ": ";
        err << issue.message << '\n';
    }
}

}  // namespace failpipe::cli
