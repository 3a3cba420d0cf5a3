// Byte helpers for keeping undecodable input exactly as it came.
#pragma once

#include <string>
#include <string_view>

namespace failpipe::detail {

/// True when @p bytes are well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool is_valid_utf8(std::string_view bytes) noexcept;

/// Standard base64 (RFC 4648, with padding).
std::string base64_encode(std::string_view bytes);

}  // namespace failpipe::detail
