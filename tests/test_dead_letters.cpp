// DeadLetters over the in-memory adapter (the checks are in dead_letters_cases.hpp).
#include "dead_letters_cases.hpp"

#include "failpipe/memory/in_memory_adapter.hpp"

namespace {

struct MemoryFixture {
    std::shared_ptr<failpipe::AdapterInterface> make() { return std::make_shared<failpipe::InMemoryAdapter>(); }
    void push_raw(failpipe::AdapterInterface& adapter, const std::string& channel, std::string bytes) {
        dynamic_cast<failpipe::InMemoryAdapter&>(adapter).push_raw(channel, std::move(bytes));
    }
};

}  // namespace

FAILPIPE_DEAD_LETTER_CASES(MemoryFixture, "memory")
