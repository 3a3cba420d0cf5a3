#include "failpipe/classifier.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <typeinfo>
#include <unordered_map>

#include "failpipe/error.hpp"
#include "failpipe/retry_after.hpp"

namespace failpipe {
namespace {

std::string demangle(const char* mangled) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
    return status == 0 && name ? std::string(name.get()) : std::string(mangled);
}

// Demangling allocates and walks the symbol; failures of one type repeat, so cache per thread.
const std::string& type_name_of(const std::type_info& type) {
    thread_local std::unordered_map<const std::type_info*, std::string> cache;
    auto it = cache.find(&type);
    if (it == cache.end()) it = cache.emplace(&type, demangle(type.name())).first;
    return it->second;
}

// Sizes of a pattern's parts while it is scanned: one level per open group.
struct PatternLevel {
    std::size_t total = 0;  // the size of the level so far
    std::size_t last = 0;   // the size of its last atom, which a quantifier repeats
};

// The size libstdc++'s compiler gives a pattern, roughly: it copies a group once per counted
// repetition, so `(?:a{100}){100}` is 10,000 states although it is 13 bytes long.
class PatternScanner {
public:
    explicit PatternScanner(std::string_view pattern) : p_(pattern) {}

    std::optional<std::string> problem() {
        while (i_ < p_.size() && !problem_) step();
        return problem_;
    }

private:
    static constexpr std::size_t kCap = Classifier::kMaxPatternSize + 1;

    void step() {
        const char c = p_[i_];
        if (c == '\\') {
            if (i_ + 1 < p_.size() && p_[i_ + 1] >= '1' && p_[i_ + 1] <= '9') {
                problem_ = "uses a back-reference (\\1 to \\9)";
                return;
            }
            i_ += 2;
            atom(1);
        } else if (c == '[') {
            skip_class();
            atom(1);
        } else if (c == '(') {
            open_group();
        } else if (c == ')') {
            ++i_;
            if (levels_.size() > 1) {
                const std::size_t group = levels_.back().total + 2;
                levels_.pop_back();
                atom(group);
            }
        } else if (c == '|') {
            ++i_;
            levels_.back().total = std::min(kCap, levels_.back().total + 1);
            levels_.back().last = 0;
        } else if (c == '*' || c == '+' || c == '?') {
            ++i_;
            if (i_ < p_.size() && p_[i_] == '?') ++i_;  // lazy
            quantify(c == '+' ? 2 : 1);                 // `a+` is compiled as `aa*`
        } else if (c == '{') {
            counted_repetition();
        } else {
            ++i_;
            atom(1);
        }
        check_size();
    }

    void skip_class() {
        std::size_t j = i_ + 1;
        if (j < p_.size() && p_[j] == '^') ++j;
        while (j < p_.size() && p_[j] != ']') j += p_[j] == '\\' ? 2 : 1;
        i_ = std::min(j + 1, p_.size());
    }

    void open_group() {
        if (p_.substr(i_, 3) == "(?=" || p_.substr(i_, 3) == "(?!") {
            problem_ = "uses a lookahead assertion ((?= or (?!)";
            return;
        }
        i_ += p_.substr(i_, 3) == "(?:" ? 3 : 1;
        levels_.emplace_back();
        if (levels_.size() - 1 > Classifier::kMaxPatternDepth)
            problem_ = "nests groups more than " + std::to_string(Classifier::kMaxPatternDepth) + " deep";
    }

    // `{n}`, `{n,}`, `{n,m}`: the repeated part is copied max(n, m) + 1 times. Anything else after
    // `{` is left to std::regex to refuse.
    void counted_repetition() {
        std::size_t j = i_ + 1;
        auto number = [&] {
            std::size_t value = 0;
            const std::size_t start = j;
            while (j < p_.size() && p_[j] >= '0' && p_[j] <= '9') {
                value = std::min(kCap, value * 10 + static_cast<std::size_t>(p_[j] - '0'));
                ++j;
            }
            return j > start ? std::optional<std::size_t>(value) : std::nullopt;
        };
        const auto low = number();
        std::optional<std::size_t> high = low;
        if (low && j < p_.size() && p_[j] == ',') {
            ++j;
            high = std::max(*low, number().value_or(*low));
        }
        if (!low || j >= p_.size() || p_[j] != '}') {
            ++i_;
            atom(1);
            return;
        }
        i_ = j + 1;
        if (i_ < p_.size() && p_[i_] == '?') ++i_;
        quantify(*high + 1);
    }

    void atom(std::size_t size) {
        PatternLevel& level = levels_.back();
        level.last = std::min(kCap, size);
        level.total = std::min(kCap, level.total + level.last);
    }

    void quantify(std::size_t copies) {
        PatternLevel& level = levels_.back();
        level.total -= level.last;
        level.last = std::min(kCap, std::min(kCap, level.last) * std::min(kCap, copies) + 2);
        level.total = std::min(kCap, level.total + level.last);
    }

    void check_size() {
        if (problem_) return;
        std::size_t size = 0;
        for (const auto& level : levels_) size = std::min(kCap, size + level.total);
        if (size > Classifier::kMaxPatternSize)
            problem_ = "expands to more than " + std::to_string(Classifier::kMaxPatternSize) +
                       " atoms (a counted repetition {n,m} copies what it repeats)";
    }

    std::string_view p_;
    std::size_t i_ = 0;
    std::vector<PatternLevel> levels_{PatternLevel{}};
    std::optional<std::string> problem_;
};

}  // namespace

std::optional<std::string> message_pattern_problem(std::string_view pattern) {
    if (pattern.size() > Classifier::kMaxPatternLength)
        return "is " + std::to_string(pattern.size()) + " bytes long (at most " +
               std::to_string(Classifier::kMaxPatternLength) + ")";
    return PatternScanner(pattern).problem();
}

std::string exception_type_name(const std::exception& e) { return type_name_of(typeid(e)); }

Classifier& Classifier::add_type_name(std::string type_name, ErrorClass error_class) {
    rules_.push_back(Rule{[name = std::move(type_name)](const std::exception*, const std::string& type) { return type == name; },
                          error_class, "type name rule", nullptr});
    return *this;
}

Classifier& Classifier::add_message_pattern(const std::string& pattern, ErrorClass error_class) {
    auto shown = [&] {
        return pattern.size() <= 60 ? pattern : pattern.substr(0, 60) + "... (truncated)";
    };
    if (auto problem = message_pattern_problem(pattern))
        throw InvalidArgumentError("message pattern \"" + shown() + "\" refused: it " + *problem);
    std::shared_ptr<std::regex> regex;
    try {
        // The pattern alone first, so that `a)|(b` is a syntax error rather than a valid wrapped pattern.
        std::regex check(pattern, std::regex::ECMAScript);
        // libstdc++'s polynomial (breadth-first) matcher: time is the text's length times the
        // pattern's size, never exponential as backtracking is on `(a+)+$`. The lazy prefix and
        // match_continuous make one pass do what regex_search would redo from every position.
        regex = std::make_shared<std::regex>("[\\s\\S]*?(?:" + pattern + ")",
                                             std::regex::ECMAScript | std::regex_constants::__polynomial);
    } catch (const std::regex_error& e) {
        throw InvalidArgumentError("invalid message pattern \"" + shown() + "\": " + e.what());
    }
    rules_.push_back(Rule{nullptr, error_class, "message rule", std::move(regex)});
    return *this;
}

ErrorClass Classifier::class_of(const std::exception* e, const std::string& type, const std::string& what) const {
    // Matching time grows with the text's length: messages are matched on their first
    // kMessagePrefix bytes, and a matcher error is no match.
    for (const auto& rule : rules_) {
        bool matched = false;
        if (rule.message) {
            const auto end = what.size() > kMessagePrefix ? what.begin() + kMessagePrefix : what.end();
            try {
                matched = std::regex_search(what.begin(), end, *rule.message, std::regex_constants::match_continuous);
            } catch (const std::exception&) {
                matched = false;
            }
        } else {
            matched = rule.matches_type(e, type);
        }
        if (matched) return rule.error_class;
    }
    if (e != nullptr) {
        if (dynamic_cast<const TransientError*>(e) != nullptr) return ErrorClass::transient;
        if (dynamic_cast<const PermanentError*>(e) != nullptr) return ErrorClass::permanent;
    }
    return ErrorClass::unknown;
}

Failure Classifier::classify(const std::exception& e) const {
    Failure failure;
    failure.exception = std::current_exception();
    failure.type = type_name_of(typeid(e));
    // A foreign exception type may break the contract and return null: read as no text, not a crash.
    const char* text = e.what();
    failure.what = text != nullptr ? text : "";
    failure.error_class = class_of(&e, failure.type, failure.what);
    if (const auto* hint = dynamic_cast<const RetryAfterHint*>(&e)) failure.retry_after = hint->retry_after();
    return failure;
}

Failure Classifier::classify_non_standard() const {
    Failure failure;
    failure.exception = std::current_exception();
    const std::type_info* type = abi::__cxa_current_exception_type();
    failure.type = type != nullptr ? type_name_of(*type) : std::string("unknown exception");
    failure.what = "exception of type " + failure.type + " (not a std::exception)";
    failure.error_class = class_of(nullptr, failure.type, failure.what);
    return failure;
}

Failure Classifier::classify(std::exception_ptr exception) const {
    if (!exception) return Failure{nullptr, "none", "no exception", ErrorClass::unknown};
    try {
        std::rethrow_exception(exception);
    } catch (const std::exception& e) {
        return classify(e);
    } catch (...) {
        return classify_non_standard();
    }
}

}  // namespace failpipe
