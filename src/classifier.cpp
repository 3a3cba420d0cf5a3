#include "failpipe/classifier.hpp"

#include <cxxabi.h>

#include <cstdlib>
#include <memory>
#include <typeinfo>
#include <unordered_map>

#include "failpipe/error.hpp"

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

}  // namespace

std::string exception_type_name(const std::exception& e) { return type_name_of(typeid(e)); }

Classifier& Classifier::add_type_name(std::string type_name, ErrorClass error_class) {
    rules_.push_back(Rule{[name = std::move(type_name)](const std::exception*, const std::string& type) { return type == name; },
                          error_class, "type name rule", nullptr});
    return *this;
}

Classifier& Classifier::add_message_pattern(const std::string& pattern, ErrorClass error_class) {
    std::shared_ptr<std::regex> regex;
    try {
        regex = std::make_shared<std::regex>(pattern, std::regex::ECMAScript | std::regex::optimize);
    } catch (const std::regex_error& e) {
        throw InvalidArgumentError("invalid message pattern \"" + pattern + "\": " + e.what());
    }
    rules_.push_back(Rule{nullptr, error_class, "message rule", std::move(regex)});
    return *this;
}

ErrorClass Classifier::class_of(const std::exception* e, const std::string& type, const std::string& what) const {
    // libstdc++'s regex matcher recurses per character: on a long message it can exhaust the stack.
    // Messages are matched on their first kMessagePrefix bytes, and a matcher error is no match.
    constexpr std::size_t kMessagePrefix = 512;
    for (const auto& rule : rules_) {
        bool matched = false;
        if (rule.message) {
            const auto end = what.size() > kMessagePrefix ? what.begin() + kMessagePrefix : what.end();
            try {
                matched = std::regex_search(what.begin(), end, *rule.message);
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
    failure.what = e.what();
    failure.error_class = class_of(&e, failure.type, failure.what);
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
