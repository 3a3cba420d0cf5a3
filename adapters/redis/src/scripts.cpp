#include "scripts.hpp"

#include "lua_scripts.hpp"
#include "sha1.hpp"

namespace failpipe::detail::redis {
namespace {

// The scripts themselves are adapters/redis/lua/*.lua, embedded at build time with lua/prelude.lua
// after each one's shebang (cmake/embed_lua.cmake). Each file's first line says whether it runs
// when Redis is at maxmemory with noeviction: readers run anyway (flags=no-writes), and so do the
// scripts that let consumers drain (settle, release, reserve, reclaim, remove, move: a move adds
// no message, it is how an operator drains dead letters: flags=allow-oom). Only pushes of new
// messages are refused: apply.lua sent with a plain shebang ("apply-push").

Script make(std::string_view name, const lua::Embedded& embedded) {
    Script script;
    script.name = name;
    script.source = std::string(embedded.source);
    script.sha = sha1_hex(script.source);
    return script;
}

// @p embedded with its shebang replaced by @p shebang.
Script make(std::string_view name, std::string_view shebang, const lua::Embedded& embedded) {
    Script script;
    script.name = name;
    script.source.reserve(shebang.size() + embedded.source.size());
    script.source.append(shebang);
    script.source.append(embedded.source.substr(embedded.shebang.size()));
    script.sha = sha1_hex(script.source);
    return script;
}

}  // namespace

const Script& apply_script() {
    static const Script script = make("apply", lua::apply);
    return script;
}
const Script& push_script() {
    static const Script script = make("apply-push", "#!lua", lua::apply);
    return script;
}
const Script& reserve_script() {
    static const Script script = make("reserve", lua::reserve);
    return script;
}
const Script& prepare_script() {
    static const Script script = make("prepare", lua::prepare);
    return script;
}
const Script& status_script() {
    static const Script script = make("status", lua::status);
    return script;
}
const Script& depth_script() {
    static const Script script = make("depth", lua::depth);
    return script;
}
const Script& browse_script() {
    static const Script script = make("browse", lua::browse);
    return script;
}
const Script& browse_after_script() {
    static const Script script = make("browse-after", lua::browse_after);
    return script;
}
const Script& remove_script() {
    static const Script script = make("remove", lua::remove);
    return script;
}
const Script& evicted_script() {
    static const Script script = make("evicted", lua::evicted);
    return script;
}
const Script& move_read_script() {
    static const Script script = make("move-read", lua::move_read);
    return script;
}
const Script& move_script() {
    static const Script script = make("move", lua::move);
    return script;
}
const Script& reclaim_script() {
    static const Script script = make("reclaim", lua::reclaim);
    return script;
}

const Script& outbox_take_script() {
    static const Script script = make("outbox-take", lua::outbox_take);
    return script;
}
const Script& outbox_ack_script() {
    static const Script script = make("outbox-ack", lua::outbox_ack);
    return script;
}
const Script& outbox_lag_script() {
    static const Script script = make("outbox-lag", lua::outbox_lag);
    return script;
}

const Script& migrate_source_script() {
    static const Script script = make("migrate-source", lua::migrate_source);
    return script;
}
const Script& migrate_target_script() {
    static const Script script = make("migrate-target", lua::migrate_target);
    return script;
}

std::string_view prelude_source() { return lua::prelude; }

}  // namespace failpipe::detail::redis
