// The page's files, embedded at build time (cmake/embed_assets.cmake writes assets.cpp).
#pragma once

#include <cstddef>
#include <string_view>

namespace failpipe::dashboard::detail {

struct Asset {
    std::string_view path;          ///< `/`, `/app.js`, `/app.css`
    std::string_view content_type;  ///< With charset.
    std::string_view bytes;
};

/// The asset served at @p path, or nullptr.
const Asset* find_asset(std::string_view path) noexcept;

}  // namespace failpipe::dashboard::detail
