// Fuzz target: the wire form both adapters store (failpipe::decode_message / encode_message).
//
// Properties: decoding any bytes either gives a message or throws DecodeError (never another
// exception, never a crash); a decoded message survives encode → decode unchanged; and encoding is
// stable (encoding the re-decoded message gives the same bytes), so a retry or a dead letter never
// alters what the producer wrote.
#include <string>

#include "../fuzz_support.hpp"
#include "failpipe/error.hpp"
#include "failpipe/message.hpp"

namespace {

bool same(const failpipe::Message& a, const failpipe::Message& b) {
    return a.id == b.id && a.handler == b.handler && a.data == b.data && a.metadata == b.metadata;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace failpipe;
    Message decoded;
    try {
        decoded = decode_message(fuzz::as_text(data, size));
    } catch (const DecodeError&) {
        return 0;  // refused with a reason: the worker dead-letters it as poison
    }
    fuzz::check(decoded.metadata.is_object(), "decoded metadata is an object");

    const std::string wire = encode_message(decoded);
    Message again;
    try {
        again = decode_message(wire);
    } catch (const DecodeError& e) {
        fuzz::fail("an encoded message decodes", std::string(e.what()) + " in " + wire);
    }
    fuzz::check(same(decoded, again), "decode → encode → decode gives the same message", wire);
    fuzz::check(encode_message(again) == wire, "encoding is stable", wire);
    return 0;
}
