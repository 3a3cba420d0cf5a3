// The public front ends of config loading: from a json value, from text, from a file. The work is
// done by the units they call:
//   config_text     parsing text (duplicate keys, depth while parsing, line and column, text order)
//   config_sections the loader, one top-level key at a time (where a new key goes)
//   config_reader   ConfigObjectReader, the typed path-aware reads every section and factory uses
//   config_issues   keeping, sorting and capping the problems found
//   config_bounds   the ConfigLimits checks that are more than one comparison
//   config_json     how values, choices and places are put into words
//   builtin_middlewares  the built-in middleware types, one row each
#include "failpipe/config.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_bounds.hpp"
#include "config_issues.hpp"
#include "config_json.hpp"
#include "config_sections.hpp"
#include "config_text.hpp"

namespace failpipe {

Config load_config(const nlohmann::json& document, const MiddlewareRegistry& registry,
                   std::shared_ptr<const Clock> clock) {
    // Before anything copies or walks it: nlohmann's copy and dump recurse.
    if (auto path = detail::too_deep(document)) throw ConfigError({{*path, detail::too_deep_message()}});
    detail::LoadResult loaded = detail::load_document(document, registry, std::move(clock));
    if (loaded.issues.empty()) return std::move(loaded.config);
    detail::sort_issues(loaded.issues);
    detail::cap_issues(loaded.issues, loaded.dropped);
    throw ConfigError(std::move(loaded.issues));
}

Config parse_config(std::string_view text, const MiddlewareRegistry& registry, std::shared_ptr<const Clock> clock) {
    if (text.size() > ConfigLimits::kMaxDocumentBytes)
        throw ConfigError({{"", "the document is " + std::to_string(text.size()) + " bytes, more than the limit of " +
                                    std::to_string(ConfigLimits::kMaxDocumentBytes) + " bytes"}});
    detail::ParsedText parsed = detail::parse_text(text);
    detail::LoadResult loaded = detail::load_document(parsed.document, registry, std::move(clock));
    std::vector<ConfigIssue>& issues = parsed.issues;
    if (issues.empty() && loaded.issues.empty()) return std::move(loaded.config);
    for (auto& issue : loaded.issues) {
        if (detail::has_room(issues, &parsed.dropped)) issues.push_back(std::move(issue));
    }
    detail::sort_in_text_order(issues, parsed.order);
    detail::cap_issues(issues, parsed.dropped + loaded.dropped);
    throw ConfigError(std::move(issues));
}

namespace {

// An open file descriptor, closed on scope exit.
class FileDescriptor {
public:
    explicit FileDescriptor(int fd) : fd_(fd) {}
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }

private:
    int fd_;
};

// A file name as given, shortened only when absurdly long (a message must stay one readable line).
std::string shown_path(const std::filesystem::path& path) {
    constexpr std::size_t kMaxShownPath = 200;
    std::string name = path.string();
    if (name.size() <= kMaxShownPath) return detail::quote_json(name);
    std::size_t cut = kMaxShownPath;
    while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;
    name.resize(cut);
    return detail::quote_json(name) + " (truncated)";
}

[[noreturn]] void cannot_read(const std::filesystem::path& path, const std::string& why) {
    throw ConfigError({{"", "cannot read " + shown_path(path) + ": " + why}});
}

// At most ConfigLimits::kMaxDocumentBytes + 1 bytes of @p fd: one more than allowed is enough to
// refuse, even when the file grows while it is read.
std::string read_bounded(int fd, const std::filesystem::path& path) {
    std::string text;
    char buffer[65536];
    while (text.size() <= ConfigLimits::kMaxDocumentBytes) {
        const std::size_t want = std::min(sizeof buffer, ConfigLimits::kMaxDocumentBytes + 1 - text.size());
        const ssize_t got = ::read(fd, buffer, want);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) cannot_read(path, std::strerror(errno));
        if (got == 0) break;
        text.append(buffer, static_cast<std::size_t>(got));
    }
    return text;
}

}  // namespace

Config load_config_file(const std::filesystem::path& path, const MiddlewareRegistry& registry,
                        std::shared_ptr<const Clock> clock) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it. For a regular
    // file the flag changes nothing.
    FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0) cannot_read(path, std::strerror(errno));
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) cannot_read(path, std::strerror(errno));
    if (S_ISDIR(info.st_mode)) cannot_read(path, "it is a directory");
    if (!S_ISREG(info.st_mode)) cannot_read(path, "it is not a regular file (a FIFO, a device or a socket)");
    if (static_cast<std::uintmax_t>(info.st_size) > ConfigLimits::kMaxDocumentBytes)
        cannot_read(path, "it is " + std::to_string(info.st_size) + " bytes, more than the limit of " +
                              std::to_string(ConfigLimits::kMaxDocumentBytes) + " bytes");
    const std::string text = read_bounded(fd.get(), path);
    if (text.size() > ConfigLimits::kMaxDocumentBytes)
        cannot_read(path, "it grew beyond the limit of " + std::to_string(ConfigLimits::kMaxDocumentBytes) +
                              " bytes while it was read");
    return parse_config(text, registry, std::move(clock));
}

}  // namespace failpipe
