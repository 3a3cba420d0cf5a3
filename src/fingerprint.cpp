#include "failpipe/fingerprint.hpp"

#include <array>
#include <cstdint>

namespace failpipe {
namespace {

constexpr std::size_t kMaxQuoted = 256;

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
bool is_hex(char c) noexcept { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_alpha(char c) noexcept { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_word(char c) noexcept { return is_digit(c) || is_alpha(c) || c == '_'; }
bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// Scans one masked shape at a time; each matcher returns how many bytes it consumed (0: no match).
class Normalizer {
public:
    explicit Normalizer(std::string_view text) : s_(text.substr(0, kFingerprintMessageBytes)) {}

    std::string run() {
        while (i_ < s_.size()) step();
        while (!out_.empty() && out_.back() == ' ') out_.pop_back();
        return std::move(out_);
    }

private:
    char at(std::size_t k) const noexcept { return k < s_.size() ? s_[k] : '\0'; }
    bool word_start() const noexcept { return i_ == 0 || !is_word(s_[i_ - 1]); }
    bool word_end(std::size_t k) const noexcept { return k >= s_.size() || !is_word(s_[k]); }

    void step() {
        const char c = s_[i_];
        if (is_space(c)) {
            if (!out_.empty() && out_.back() != ' ') out_ += ' ';
            ++i_;
            return;
        }
        if (std::size_t n = quoted()) return emit("<str>", n);
        if (word_start()) {
            if (std::size_t n = uuid()) return emit("<uuid>", n);
            if (std::size_t n = ipv4()) return emit("<ip>", n);
            if (std::size_t n = hex()) return emit("<hex>", n);
        }
        if (std::size_t n = number()) return emit("<n>", n);
        out_ += c;
        ++i_;
    }

    void emit(std::string_view mask, std::size_t consumed) {
        out_ += mask;
        i_ += consumed;
    }

    std::size_t quoted() const noexcept {
        const char q = s_[i_];
        if (q != '\'' && q != '"' && q != '`') return 0;
        if (i_ > 0 && is_word(s_[i_ - 1])) return 0;  // an apostrophe inside a word ("can't")
        for (std::size_t k = i_ + 1; k < s_.size() && k - i_ <= kMaxQuoted; ++k) {
            if (s_[k] == q && word_end(k + 1)) return k + 1 - i_;
            if (s_[k] == '\n') return 0;
        }
        return 0;
    }

    std::size_t hex_run(std::size_t from) const noexcept {
        std::size_t k = from;
        while (k < s_.size() && is_hex(s_[k])) ++k;
        return k - from;
    }

    std::size_t uuid() const noexcept {
        static constexpr std::array<std::size_t, 5> groups{8, 4, 4, 4, 12};
        std::size_t k = i_;
        for (std::size_t g = 0; g < groups.size(); ++g) {
            if (g > 0) {
                if (at(k) != '-') return 0;
                ++k;
            }
            if (hex_run(k) < groups[g]) return 0;
            k += groups[g];
        }
        return word_end(k) ? k - i_ : 0;
    }

    std::size_t digits(std::size_t from) const noexcept {
        std::size_t k = from;
        while (k < s_.size() && is_digit(s_[k])) ++k;
        return k - from;
    }

    std::size_t ipv4() const noexcept {
        std::size_t k = i_;
        for (int part = 0; part < 4; ++part) {
            if (part > 0) {
                if (at(k) != '.') return 0;
                ++k;
            }
            const std::size_t n = digits(k);
            if (n == 0 || n > 3) return 0;
            k += n;
        }
        if (at(k) == ':' && digits(k + 1) > 0) k += 1 + digits(k + 1);
        return word_end(k) ? k - i_ : 0;
    }

    std::size_t hex() const noexcept {
        if (at(i_) == '0' && (at(i_ + 1) == 'x' || at(i_ + 1) == 'X')) {
            const std::size_t n = hex_run(i_ + 2);
            if (n > 0 && word_end(i_ + 2 + n)) return n + 2;
        }
        const std::size_t n = hex_run(i_);
        if (n < 8 || !word_end(i_ + n)) return 0;
        bool digit = false;
        bool letter = false;
        for (std::size_t k = i_; k < i_ + n; ++k) (is_digit(s_[k]) ? digit : letter) = true;
        return digit && letter ? n : 0;
    }

    std::size_t number() const noexcept {
        std::size_t n = digits(i_);
        if (n == 0) return 0;
        if (at(i_ + n) == '.' && is_digit(at(i_ + n + 1))) n += 1 + digits(i_ + n + 1);
        return n;
    }

    std::string_view s_;
    std::size_t i_ = 0;
    std::string out_;
};

std::uint64_t fnv1a(std::uint64_t hash, std::string_view bytes) noexcept {
    for (unsigned char c : bytes) {
        hash ^= c;
        hash *= 1099511628211ULL;
    }
    return hash;
}

}  // namespace

std::string normalize_error_message(std::string_view message) { return Normalizer(message).run(); }

std::string error_fingerprint(std::string_view error_type, std::string_view error_message) {
    std::uint64_t hash = fnv1a(14695981039346656037ULL, error_type);
    hash = fnv1a(hash, std::string_view("\0", 1));
    hash = fnv1a(hash, normalize_error_message(error_message));
    static constexpr char kHex[] = "0123456789abcdef";
    std::string key(16, '0');
    for (int k = 15; k >= 0; --k, hash >>= 4) key[static_cast<std::size_t>(k)] = kHex[hash & 0xF];
    return key;
}

}  // namespace failpipe
