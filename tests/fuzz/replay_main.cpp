// Runs a fuzz target's LLVMFuzzerTestOneInput over saved inputs: the files named on the command
// line, and every file in the directories named (dot files skipped, sorted, so a report names the
// same file every time). Built with the normal compiler, so the corpus and every crash ever found
// are replayed by ctest even where clang and libFuzzer are missing.
//
// Like libFuzzer's -timeout, an input that runs longer than FAILPIPE_FUZZ_REPLAY_TIMEOUT seconds
// (default 30: sanitizer builds on a loaded machine) ends the process with SIGALRM: a hang fails.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_support.hpp"

namespace {

std::vector<std::filesystem::path> inputs(int argc, char** argv) {
    std::vector<std::filesystem::path> files;
    for (int i = 1; i < argc; ++i) {
        const std::filesystem::path path(argv[i]);
        if (std::filesystem::is_directory(path)) {
            std::vector<std::filesystem::path> found;
            for (const auto& entry : std::filesystem::directory_iterator(path))
                if (entry.is_regular_file() && !entry.path().filename().string().starts_with("."))
                    found.push_back(entry.path());
            std::sort(found.begin(), found.end());
            files.insert(files.end(), found.begin(), found.end());
        } else if (std::filesystem::is_regular_file(path)) {
            files.push_back(path);
        } else {
            std::cerr << "replay: no such file or directory: " << path << '\n';
            std::exit(2);
        }
    }
    return files;
}

}  // namespace

int main(int argc, char** argv) {
    const char* limit = std::getenv("FAILPIPE_FUZZ_REPLAY_TIMEOUT");
    const unsigned seconds = limit != nullptr ? static_cast<unsigned>(std::strtoul(limit, nullptr, 10)) : 30U;
    const auto files = inputs(argc, argv);
    for (const auto& file : files) {
        std::ifstream in(file, std::ios::binary);
        const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
        // Named before it runs: a crash (abort, sanitizer report, stack overflow) ends the output here.
        std::cerr << "replay: " << file.string() << " (" << bytes.size() << " bytes)\n";
        alarm(seconds);
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
        alarm(0);
    }
    std::cout << "replay: " << files.size() << " inputs, no crash\n";
    return files.empty() ? 1 : 0;
}
