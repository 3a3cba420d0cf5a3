// Shared by the fuzz targets: the property check, and the libFuzzer entry point's declaration.
//
// A target is one LLVMFuzzerTestOneInput per file. The same file links either with libFuzzer
// (clang, FAILPIPE_FUZZ=ON) or with replay_main.cpp (any compiler), which runs it over the saved
// corpus and regression inputs in the normal test run.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace failpipe::fuzz {

/// A broken property is a crash: libFuzzer saves the input, the replay fails with the message.
[[noreturn]] inline void fail(std::string_view property, std::string_view detail = {}) {
    std::fprintf(stderr, "fuzz: property broken: %.*s%s%.*s\n", static_cast<int>(property.size()), property.data(),
                 detail.empty() ? "" : ": ", static_cast<int>(std::min<std::size_t>(detail.size(), 2000)),
                 detail.data());
    std::abort();
}

inline void check(bool holds, std::string_view property, std::string_view detail = {}) {
    if (!holds) fail(property, detail);
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

}  // namespace failpipe::fuzz
