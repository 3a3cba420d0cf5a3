#include <doctest/doctest.h>

#include <string>

#include "failpipe/fingerprint.hpp"

using failpipe::error_fingerprint;
using failpipe::normalize_error_message;

TEST_CASE("fingerprint: realistic messages lose their variable parts") {
    CHECK(normalize_error_message("timeout after 3012 ms") == "timeout after <n> ms");
    CHECK(normalize_error_message("order 8812 not found") == "order <n> not found");
    CHECK(normalize_error_message("HTTP 503 from 10.2.3.4") == "HTTP <n> from <ip>");
    CHECK(normalize_error_message("connect to 10.0.0.7:6379 refused") == "connect to <ip> refused");
    CHECK(normalize_error_message("payment 3f2b1c9e-8d4a-4e21-9c3b-7a1f0e5d2c6b declined") ==
          "payment <uuid> declined");
    CHECK(normalize_error_message("bad pointer 0x7ffd5e3a and tx 9f86d081884c7d65") ==
          "bad pointer <hex> and tx <hex>");
    CHECK(normalize_error_message("user 'bob' has no card \"visa\"") == "user <str> has no card <str>");
    CHECK(normalize_error_message("  took\t1.25 s \n  ") == "took <n> s");
    CHECK(normalize_error_message("retry #3 of order-17") == "retry #<n> of order-<n>");
}

TEST_CASE("fingerprint: words that only look like variable parts are kept") {
    CHECK(normalize_error_message("can't reach the gateway") == "can't reach the gateway");
    CHECK(normalize_error_message("deadbeef failed") == "deadbeef failed");  // no digit: a word
    CHECK(normalize_error_message("it's Bob's card") == "it's Bob's card");
}

TEST_CASE("fingerprint: occurrences of one cause share a key, other causes do not") {
    const auto a = error_fingerprint("failpipe::TransientError", "timeout after 3012 ms");
    CHECK(a.size() == 16);
    CHECK(a.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(error_fingerprint("failpipe::TransientError", "timeout after 250 ms") == a);
    CHECK(error_fingerprint("failpipe::TransientError", "timeout  after 250 ms ") == a);
    CHECK(error_fingerprint("failpipe::PermanentError", "timeout after 3012 ms") != a);
    CHECK(error_fingerprint("failpipe::TransientError", "order 1 not found") != a);
    CHECK(error_fingerprint("x", "HTTP 503 from 10.2.3.4") == error_fingerprint("x", "HTTP 503 from 192.168.0.9"));
    CHECK(error_fingerprint("x", "order 8812 not found") == error_fingerprint("x", "order 17 not found"));
}

TEST_CASE("fingerprint: the key is stable across versions (the documented rule pins it)") {
    // FNV-1a 64 of "t\0timeout after <n> ms": a change here regroups every stored dead letter.
    CHECK(error_fingerprint("t", "timeout after 1 ms") == error_fingerprint("t", "timeout after <n> ms"));
    CHECK(error_fingerprint("", "") == "af63bd4c8601b7df");
}

TEST_CASE("fingerprint: hostile messages are bounded and never crash") {
    std::string huge(1'000'000, '9');
    CHECK(normalize_error_message(huge) == "<n>");
    std::string quotes(100'000, '\'');
    CHECK(normalize_error_message(quotes).size() <= 3 * failpipe::kFingerprintMessageBytes);  // "''" → "<str>"
    std::string binary("\x00\xff\xfe'\x01", 5);
    CHECK_NOTHROW(error_fingerprint("t", binary));
    CHECK(error_fingerprint("t", huge) == error_fingerprint("t", huge + "tail past the cut"));
}
