// MiddlewareRegistry: middleware types by config name. The built-in types are registered in
// builtin_middlewares.cpp.
#include "failpipe/middleware_registry.hpp"

#include <string>
#include <utility>

#include "builtin_middlewares.hpp"

namespace failpipe {

MiddlewareRegistry MiddlewareRegistry::with_builtins() {
    MiddlewareRegistry registry;
    detail::register_builtins(registry);
    return registry;
}

MiddlewareRegistry& MiddlewareRegistry::add(std::string type, Factory factory) {
    if (type.empty()) throw InvalidArgumentError("MiddlewareRegistry::add: the type name must not be empty");
    if (!factory) throw InvalidArgumentError("MiddlewareRegistry::add: no factory given for type \"" + type + "\"");
    factories_.insert_or_assign(std::move(type), std::move(factory));
    return *this;
}

bool MiddlewareRegistry::contains(std::string_view type) const { return factories_.find(type) != factories_.end(); }

std::vector<std::string> MiddlewareRegistry::types() const {
    std::vector<std::string> names;
    names.reserve(factories_.size());
    for (const auto& entry : factories_) names.push_back(entry.first);
    return names;
}

const MiddlewareRegistry::Factory* MiddlewareRegistry::find(std::string_view type) const {
    auto it = factories_.find(type);
    return it == factories_.end() ? nullptr : &it->second;
}

}  // namespace failpipe
