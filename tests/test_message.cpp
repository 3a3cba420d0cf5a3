#include <doctest/doctest.h>

#include <failpipe/failpipe.hpp>

#include <set>

using namespace failpipe;

TEST_CASE("message: encode and decode round-trip every field, metadata included") {
    Message message = Message::create("order.created", {{"id", 42}, {"items", {1, 2, 3}}, {"note", "ünïcødé"}});
    message.id = "abc";
    message.metadata["failpipe-failure"] = {{"failures", 2}};
    Message back = decode_message(encode_message(message));
    CHECK(back.id == "abc");
    CHECK(back.handler == "order.created");
    CHECK(back.data == message.data);
    CHECK(back.metadata == message.metadata);
}

TEST_CASE("message: bad bytes are a DecodeError that says why") {
    CHECK_THROWS_WITH_AS(decode_message("{not json"), "not JSON (9 bytes)", DecodeError);
    CHECK_THROWS_WITH_AS(decode_message("[1,2]"), "expected a JSON object, found array", DecodeError);
    CHECK_THROWS_WITH_AS(decode_message(R"({"data":1})"), "\"handler\": missing", DecodeError);
    CHECK_THROWS_WITH_AS(decode_message(R"({"handler":5})"), "\"handler\": expected a string, found number", DecodeError);
    CHECK_THROWS_WITH_AS(decode_message(R"({"handler":"h","id":7})"), "\"id\": expected a string, found number", DecodeError);
    CHECK_THROWS_WITH_AS(decode_message(R"({"handler":"h","metadata":[]})"), "\"metadata\": expected an object, found array",
                         DecodeError);
    CHECK_THROWS_AS(decode_message(std::string("\xff\xfe\x00", 3)), DecodeError);
    // A DecodeError is permanent: the pipeline can send it straight to the dead letters.
    CHECK_THROWS_AS(decode_message(""), PermanentError);
}

TEST_CASE("message: a payload with invalid UTF-8 still encodes (replaced), so a push never throws on it") {
    Message message = Message::create("h", std::string("bad \xC3\x28 byte"));
    std::string bytes;
    CHECK_NOTHROW(bytes = encode_message(message));
    CHECK(decode_message(bytes).handler == "h");
}

TEST_CASE("message: generated ids are unique and 32 hex digits") {
    std::set<std::string> ids;
    for (int i = 0; i < 10000; ++i) ids.insert(generate_message_id());
    CHECK(ids.size() == 10000);
    const std::string id = *ids.begin();
    CHECK(id.size() == 32);
    CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
}

TEST_CASE("manual clock: moves only when told, never backwards") {
    ManualClock clock;
    auto start = clock.now();
    clock.advance(Seconds{7.5});
    CHECK(clock.now() - start == std::chrono::milliseconds(7500));
    CHECK_THROWS_AS(clock.advance(Seconds{-1}), InvalidArgumentError);
    CHECK_THROWS_AS(clock.set(start), InvalidArgumentError);
    clock.set(start + std::chrono::hours(1));
    CHECK(clock.now() - start == std::chrono::hours(1));
}

TEST_CASE("names: error classes, actions, final behaviours and jitter round-trip through their names") {
    for (auto c : {ErrorClass::transient, ErrorClass::permanent, ErrorClass::unknown}) CHECK(parse_error_class(to_string(c)) == c);
    for (auto f : {FinalBehavior::dead_letter, FinalBehavior::rethrow, FinalBehavior::drop}) CHECK(parse_final_behavior(to_string(f)) == f);
    for (auto j : {Jitter::none, Jitter::full, Jitter::equal, Jitter::decorrelated}) CHECK(parse_jitter(to_string(j)) == j);
    CHECK_FALSE(parse_error_class("Transient").has_value());
    CHECK(to_string(FailureAction::dead_letter) == "dead-letter");
    CHECK(to_string(MessageState::not_found) == "not-found");
}

namespace {
struct PaymentGatewayDown : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct NotAnException {};

template <class F>
Failure classify_thrown(const Classifier& classifier, F&& thrower) {
    try {
        thrower();
    } catch (const std::exception& e) {
        return classifier.classify(e);
    } catch (...) {
        return classifier.classify_non_standard();
    }
    FAIL("nothing was thrown");
    return {};
}
}  // namespace

TEST_CASE("classifier: failpipe's own types, user rules by type, type name and message, and the default") {
    Classifier classifier;
    CHECK(classify_thrown(classifier, [] { throw TransientError("timeout"); }).error_class == ErrorClass::transient);
    CHECK(classify_thrown(classifier, [] { throw NoHandlerError("none"); }).error_class == ErrorClass::permanent);
    auto plain = classify_thrown(classifier, [] { throw std::runtime_error("boom"); });
    CHECK(plain.error_class == ErrorClass::unknown);
    CHECK(plain.type == "std::runtime_error");
    CHECK(plain.what == "boom");
    CHECK(plain.exception != nullptr);

    classifier.add_type<PaymentGatewayDown>(ErrorClass::transient)
        .add_type_name("std::out_of_range", ErrorClass::permanent)
        .add_message_pattern("deadlock|lock wait", ErrorClass::transient);
    auto gateway = classify_thrown(classifier, [] { throw PaymentGatewayDown("503"); });
    CHECK(gateway.error_class == ErrorClass::transient);
    CHECK(gateway.type.find("PaymentGatewayDown") != std::string::npos);
    CHECK(classify_thrown(classifier, [] { throw std::out_of_range("idx"); }).error_class == ErrorClass::permanent);
    CHECK(classify_thrown(classifier, [] { throw std::runtime_error("Deadlock found; lock wait timeout"); }).error_class ==
          ErrorClass::transient);
    // User rules come first, so they may override failpipe's own.
    Classifier overriding;
    overriding.add_type<TransientError>(ErrorClass::permanent);
    CHECK(classify_thrown(overriding, [] { throw TransientError("x"); }).error_class == ErrorClass::permanent);
}

TEST_CASE("classifier: something that is not a std::exception is named and classified unknown") {
    Classifier classifier;
    auto thrown_int = classify_thrown(classifier, [] { throw 42; });
    CHECK(thrown_int.type == "int");
    CHECK(thrown_int.error_class == ErrorClass::unknown);
    CHECK(thrown_int.what.find("not a std::exception") != std::string::npos);
    auto thrown_struct = classify_thrown(classifier, [] { throw NotAnException{}; });
    CHECK(thrown_struct.type.find("NotAnException") != std::string::npos);
}

TEST_CASE("classifier: a bad message pattern is refused with the pattern named") {
    Classifier classifier;
    CHECK_THROWS_AS(classifier.add_message_pattern("([unclosed", ErrorClass::transient), InvalidArgumentError);
}

