/// @file middleware_registry.hpp
/// @brief MiddlewareRegistry: middleware types by config name, so user middlewares can be named in JSON.
#pragma once

#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "failpipe/config_reader.hpp"
#include "failpipe/error.hpp"
#include "failpipe/failure_middleware.hpp"

namespace failpipe {

/// @brief Middleware types by name. The built-ins are `send-again`, `exponential-delay` and
/// `dead-letter`; each is registered once, in src/builtin_middlewares.cpp.
class MiddlewareRegistry {
public:
    /// @brief Builds a middleware from its object; may return null after recording problems on @p params.
    using Factory = std::function<FailureMiddlewarePtr(ConfigObjectReader& params)>;

    /// @brief An empty registry.
    MiddlewareRegistry() = default;
    /// @brief A registry holding the built-in types.
    static MiddlewareRegistry with_builtins();

    /// @brief Registers @p factory under @p type (replacing an earlier one of that name).
    MiddlewareRegistry& add(std::string type, Factory factory);
    /// @brief True when @p type is registered.
    bool contains(std::string_view type) const;
    /// @brief The registered type names, sorted.
    std::vector<std::string> types() const;
    /// @brief The factory for @p type, or null.
    const Factory* find(std::string_view type) const;

private:
    std::map<std::string, Factory, std::less<>> factories_;
};

}  // namespace failpipe
