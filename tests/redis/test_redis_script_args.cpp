// The encoder of script arguments (script_args.hpp) against the decoders every script reads them
// with (lua/prelude.lua, `read.*`): each call is sent, with the prelude and a probe instead of its
// script, to the test server, and what the decoder read must be exactly what was encoded. A field
// added, dropped or swapped on one side only fails here, not in some later behaviour test.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "connection.hpp"
#include "redis_test_support.hpp"
#include "script_args.hpp"
#include "scripts.hpp"
#include "url.hpp"
#include "write_combiner.hpp"

namespace rt = failpipe::redis_test;
using failpipe::Seconds;
using nlohmann::json;
using namespace failpipe::detail::redis;

namespace {

const ScriptHead kHead("{fp-args}", "30000");

/// What the probe @p body (run after the prelude, with @p call's keys and arguments) returns.
std::string probe(const ScriptCall& call, std::string_view body) {
    const std::string source = "#!lua flags=no-writes\n" + std::string(prelude_source()) + std::string(body);
    Args eval;
    eval.add("EVAL");
    eval.add(source);
    for (std::size_t i = 2; i < call.args.size(); ++i) eval.add(call.args.at(i));  // numkeys, keys, ARGV
    const Endpoint endpoint = parse_url(rt::test_redis_url());
    Counters counters;
    Connection connection(endpoint, Seconds{2.0}, Seconds{5.0}, counters);
    Reply reply = connection.command(eval);
    REQUIRE_MESSAGE(reply->type == REDIS_REPLY_STRING, std::string(text_of(*reply)));
    return std::string(text_of(*reply));
}

/// What `read.<decoder>()` made of @p call's arguments, and whether any were left unread.
json decoded(const ScriptCall& call, std::string_view decoder) {
    const std::string body = "local v = read." + std::string(decoder) +
                             "()\nreturn cjson.encode({v = v, left = more_args()})\n";
    json out = json::parse(probe(call, body));
    CHECK_FALSE(out["left"].get<bool>());
    return out["v"];
}

/// Every apply operation of @p call, as read.apply_op reads them (why, for one it refuses).
json operations(const ScriptCall& call) {
    return json::parse(probe(call, R"(
local out = {}
while more_args() do
  local op, why = read.apply_op()
  out[#out + 1] = op or why
end
return cjson.encode(out)
)"));
}

}  // namespace

TEST_CASE("script args: every call starts with the prelude's key, prefix and visibility timeout") {
    const ScriptCall call = reclaim_call(kHead);
    CHECK(call.script == &reclaim_script());
    CHECK(call.args.at(0) == "EVALSHA");
    CHECK(call.args.at(1) == reclaim_script().sha);
    const json head = json::parse(probe(call, "return cjson.encode({KEYS[1], P, VT, more_args()})"));
    CHECK(head == json::array({"{fp-args}:channels", "{fp-args}", 30000, false}));
}

TEST_CASE("script args: apply operations read back as encoded, one after the other") {
    ScriptCall call = kHead.call(apply_script());
    std::vector<PushArg> pushes;
    pushes.push_back(PushArg{"next", "p1", std::string("bytes one"), "0"});
    pushes.push_back(PushArg{"later", "p2", std::string_view("bytes\x1f two"), std::string("1500")});
    std::vector<OutboxArg> outbox;
    outbox.push_back(OutboxArg{PushArg{"elsewhere", "o1", std::string("bytes out"), "250"}, std::string("token-o1")});
    const std::size_t settle_flag =
        encode(call.args, SettleArg{true, {"in", "5-1", "m1", "1234"}, std::move(pushes), std::move(outbox)});
    CHECK(call.args.at(settle_flag) == "1");
    const std::size_t plain_flag = encode(call.args, SettleArg{false, {"in", "5-2", "m2", "1235"}, {}, {}});
    CHECK(call.args.at(plain_flag) == "0");
    encode(call.args, ReleaseArg{false, {"in", "5-3", "m3", "1236"}, std::string("250")});
    std::vector<PushArg> more;
    more.push_back(PushArg{"out", "p3", "three", "0"});
    encode(call.args, PushOpArg{true, "token-1", std::move(more)});

    const json ops = operations(call);
    REQUIRE(ops.size() == 4);
    CHECK(ops[0] == json::parse(R"({"op": "S", "resend": "1", "channel": "in", "sid": "5-1", "id": "m1",
        "reserved": "1234", "pushes": [{"channel": "next", "id": "p1", "bytes": "bytes one", "delay": "0"},
                                      {"channel": "later", "id": "p2", "bytes": "bytes\u001f two", "delay": "1500"}],
        "outbox": [{"channel": "elsewhere", "id": "o1", "bytes": "bytes out", "delay": "250", "token": "token-o1"}]})"));
    // An empty Lua table is encoded as an object by cjson.
    CHECK(ops[1] == json::parse(R"({"op": "S", "resend": "0", "channel": "in", "sid": "5-2", "id": "m2",
        "reserved": "1235", "pushes": {}, "outbox": {}})"));
    CHECK(ops[2] == json::parse(R"({"op": "R", "resend": "0", "channel": "in", "sid": "5-3", "id": "m3",
        "reserved": "1236", "delay": "250"})"));
    CHECK(ops[3] == json::parse(R"({"op": "P", "resend": "1", "token": "token-1",
        "runs": [{"channel": "out", "delay": "0", "items": ["p3", "three"]}]})"));
}

TEST_CASE("script args: a push operation sends the channel and delay once per run of pushes that share them") {
    ScriptCall call = kHead.call(apply_script());
    std::vector<PushArg> pushes;
    pushes.push_back(PushArg{"a", "p1", std::string("one"), "0"});
    pushes.push_back(PushArg{"a", "p2", std::string_view("two"), std::string("0")});  // owned or viewed: the same delay
    pushes.push_back(PushArg{"b", "p3", std::string("three"), "0"});
    pushes.push_back(PushArg{"b", "p4", std::string("four"), "1500"});
    pushes.push_back(PushArg{"a", "p5", std::string("five"), "0"});  // back to a: a run of its own, in its turn
    const std::size_t flag = encode(call.args, PushOpArg{false, "token-r", std::move(pushes)});
    CHECK(call.args.at(flag) == "0");
    CHECK(call.args.size() - 6 <= push_op_parts(5));
    const json ops = json::parse(probe(call, "return cjson.encode({read.apply_op(), more_args()})"));
    CHECK(ops == json::parse(R"([{"op": "P", "resend": "0", "token": "token-r", "runs": [
        {"channel": "a", "delay": "0", "items": ["p1", "one", "p2", "two"]},
        {"channel": "b", "delay": "0", "items": ["p3", "three"]},
        {"channel": "b", "delay": "1500", "items": ["p4", "four"]},
        {"channel": "a", "delay": "0", "items": ["p5", "five"]}]}, false])"));

    // A run holds at most kMaxPushRun pushes; an empty operation has no run.
    ScriptCall many = kHead.call(apply_script());
    std::vector<std::string> ids;
    for (std::size_t i = 0; i <= kMaxPushRun; ++i) ids.push_back("m" + std::to_string(i));
    std::vector<PushArg> long_run;
    for (const auto& id : ids) long_run.push_back(PushArg{"a", id, "x", "0"});
    encode(many.args, PushOpArg{false, "token-m", std::move(long_run)});
    encode(many.args, PushOpArg{false, "token-e", {}});
    const json sizes = json::parse(probe(many, R"(
local out = {}
while more_args() do
  local op = read.apply_op()
  local n = {}
  for r = 1, #op.runs do n[r] = #op.runs[r].items / 2 end
  out[#out + 1] = {op.token, n}
end
return cjson.encode(out)
)"));
    CHECK(sizes == json::parse(R"([["token-m", [1000, 1]], ["token-e", {}]])"));
}

TEST_CASE("script args: a push operation whose counts disagree with its arguments is refused by name, nothing unpacked") {
    // Never encoded so (encode() writes runs of 1 to kMaxPushRun pushes): a count read as sent would
    // unpack past the arguments, walk back over them, or overflow Lua's stack of some 8,000 values.
    const auto why = [](std::vector<std::string> parts) {
        ScriptCall bad = kHead.call(apply_script());
        for (const std::string& part : parts) bad.args.add_copy(part);
        return json::parse(probe(bad, "local op, why = read.apply_op()\nreturn cjson.encode({op == nil, why or ''})"));
    };
    const auto run_of = [](std::size_t count, std::size_t sent) {
        std::vector<std::string> parts{"P", "0", "1", "token", "a", "0", std::to_string(count)};
        for (std::size_t i = 0; i < sent; ++i) {
            parts.push_back("m" + std::to_string(i));
            parts.push_back("x");
        }
        return parts;
    };
    CHECK(why(run_of(kMaxPushRun, kMaxPushRun)) == json::parse(R"([false, ""])"));
    CHECK(why(run_of(kMaxPushRun + 1, kMaxPushRun + 1)) ==
          json::parse(R"j([true, "malformed push operation (run 1 of 1001 pushes)"])j"));
    CHECK(why(run_of(5000, 5000)) == json::parse(R"j([true, "malformed push operation (run 1 of 5000 pushes)"])j"));
    CHECK(why(run_of(3, 2)) == json::parse(R"j([true, "malformed push operation (run 1 of 3 pushes)"])j"));
    CHECK(why(run_of(0, 0)) == json::parse(R"([false, ""])"));
    CHECK(why({"P", "0", "1", "token", "a", "0", "-1", "m", "x"}) ==
          json::parse(R"j([true, "malformed push operation (run 1 of -1 pushes)"])j"));
    CHECK(why({"P", "0", "1.5", "token", "a", "0", "1", "m", "x"}) ==
          json::parse(R"j([true, "malformed push operation (runs 1.5)"])j"));
    CHECK(why({"P", "0", "2", "token", "a", "0", "1", "m", "x"}) ==
          json::parse(R"j([true, "malformed push operation (run 2 of nil pushes)"])j"));
}

TEST_CASE("script args: a WriteOp knows where its resend flag is, whatever the operation") {
    WriteOp settle(SettleArg{false, {"in", "5-1", "m1", "1"}, {}, {}});
    WriteOp release(ReleaseArg{false, {"in", "5-1", "m1", "1"}, "0"});
    WriteOp push(PushOpArg{false, "t", {}});
    for (const WriteOp* op : {&settle, &release, &push}) CHECK(op->args.at(op->resend_flag) == "0");
    CHECK_FALSE(settle.pushes_only);
    CHECK_FALSE(release.pushes_only);
    CHECK(push.pushes_only);
}

TEST_CASE("script args: the calls of the other scripts read back as encoded") {
    SUBCASE("reserve") {
        const std::vector<std::string> channels{"a", "b:dlq"};  // the call refers to them
        const ScriptCall call = reserve_call(kHead, 64, "250", channels);
        CHECK(call.script == &reserve_script());
        CHECK(decoded(call, "reserve") == json::parse(R"({"max": 64, "every": 250, "channels": ["a", "b:dlq"]})"));
    }
    SUBCASE("prepare") {
        const ScriptCall call = prepare_call(kHead, "a", "10");
        CHECK(call.script == &prepare_script());
        CHECK(decoded(call, "prepare") == json::parse(R"({"channel": "a", "every": 10})"));
    }
    SUBCASE("status") {
        const ScriptCall call = status_call(kHead, "id 1");
        CHECK(call.script == &status_script());
        CHECK(decoded(call, "status") == json::parse(R"({"id": "id 1"})"));
    }
    SUBCASE("depth and evicted") {
        const ScriptCall depth = depth_call(kHead, "a");
        CHECK(depth.script == &depth_script());
        CHECK(decoded(depth, "channel") == json::parse(R"({"channel": "a"})"));
        const ScriptCall evicted = evicted_call(kHead, "b");
        CHECK(evicted.script == &evicted_script());
        CHECK(decoded(evicted, "channel") == json::parse(R"({"channel": "b"})"));
    }
    SUBCASE("browse") {
        const ScriptCall call = browse_call(kHead, "a", 3, 10);
        CHECK(call.script == &browse_script());
        CHECK(decoded(call, "browse") == json::parse(R"({"channel": "a", "offset": 3, "limit": 10})"));
    }
    SUBCASE("browse_after") {
        const ScriptCall call = browse_after_call(kHead, "a", 10, "d", "m\x1f" "1", "1700000000000");
        CHECK(call.script == &browse_after_script());
        CHECK(decoded(call, "browse_after") ==
              json::parse(R"({"channel": "a", "limit": 10, "kind": "d", "ref": "m\u001f1", "score": "1700000000000"})"));
    }
    SUBCASE("remove and evict, by the index and by a scan") {
        const std::vector<std::string> ids{"x", "y"};
        const ScriptCall indexed = remove_call(kHead, "a", Lookup{}, false, ids);
        CHECK(indexed.script == &remove_script());
        CHECK(decoded(indexed, "lookup") ==
              json::parse(R"({"channel": "a", "mode": "i", "scursor": "", "hcursor": "", "ids": ["x", "y"]})"));
        const std::vector<std::string_view> views{"y"};
        const ScriptCall scan = remove_call(kHead, "a", Lookup{Lookup::Mode::scan, "5-1", "17"}, true, views);
        CHECK(decoded(scan, "lookup") ==
              json::parse(R"({"channel": "a", "mode": "S", "scursor": "5-1", "hcursor": "17", "ids": ["y"]})"));
        CHECK(decoded(remove_call(kHead, "a", Lookup{}, true, ids), "lookup")["mode"] == "I");
        CHECK(decoded(remove_call(kHead, "a", Lookup{Lookup::Mode::scan, "start", "0"}, false, ids), "lookup")["mode"] == "s");
    }
    SUBCASE("move-read") {
        const std::vector<std::string> ids{"x"};
        const ScriptCall indexed = move_read_call(kHead, "dlq", Lookup{}, ids);
        CHECK(indexed.script == &move_read_script());
        CHECK(decoded(indexed, "lookup") ==
              json::parse(R"({"channel": "dlq", "mode": "i", "scursor": "", "hcursor": "", "ids": ["x"]})"));
        const ScriptCall scan = move_read_call(kHead, "dlq", Lookup{Lookup::Mode::scan, "start", "0"}, ids);
        CHECK(decoded(scan, "lookup") ==
              json::parse(R"({"channel": "dlq", "mode": "s", "scursor": "start", "hcursor": "0", "ids": ["x"]})"));
    }
    SUBCASE("outbox take, ack and lag") {
        const ScriptCall take = outbox_take_call(kHead, 256);
        CHECK(take.script == &outbox_take_script());
        CHECK(decoded(take, "outbox_take") == json::parse(R"({"max": 256})"));
        const std::vector<std::string> ids{"1-1", "2-0"};
        const ScriptCall ack = outbox_ack_call(kHead, ids);
        CHECK(ack.script == &outbox_ack_script());
        CHECK(decoded(ack, "outbox_ack") == json::parse(R"({"ids": ["1-1", "2-0"]})"));
        const ScriptCall lag = outbox_lag_call(kHead);
        CHECK(lag.script == &outbox_lag_script());
        CHECK(lag.args.size() == 6);  // the head only
    }
    SUBCASE("move") {
        const std::vector<MoveArg> items{MoveArg{"s", "5-1", "", "m1", false, ""},
                                         MoveArg{"d", "m2\x1f" "3", "F1:i2:m2", "m2", true, "new bytes"}};
        const ScriptCall call = move_call(kHead, "dlq", "in", "1500", "token-2", MoveVia::target, items);
        CHECK(call.script == &move_script());
        CHECK(decoded(call, "move") == json::parse(R"({"from": "dlq", "to": "in", "delay": "1500", "token": "token-2", "via": "t",
            "items": [{"kind": "s", "ref": "5-1", "value": "", "id": "m1", "how": "k", "bytes": ""},
                      {"kind": "d", "ref": "m2\u001f3", "value": "F1:i2:m2", "id": "m2", "how": "r", "bytes": "new bytes"}]})"));
        const ScriptCall across = move_call(kHead, "dlq", "payments", "0", "token-3", MoveVia::outbox, items);
        CHECK(decoded(across, "move")["via"] == "o");
    }
}

TEST_CASE("script args: the calls of a key-layout migration read back as encoded") {
    const ScriptCall inventory = migrate_inventory_call(kHead, "orders", "billing", 20);
    CHECK(inventory.script == &migrate_source_script());
    CHECK(decoded(inventory, "migrate_source") ==
          json::parse(R"({"mode": "I", "channel": "orders", "group": "billing", "limit": 20})"));
    CHECK(decoded(migrate_read_call(kHead, "orders", "billing", 256, "5-1"), "migrate_source") ==
          json::parse(R"({"mode": "R", "channel": "orders", "group": "billing", "max": 256, "cursor": "5-1"})"));
    CHECK(decoded(migrate_finish_call(kHead, "orders"), "migrate_source") == json::parse(R"({"mode": "F", "channel": "orders"})"));
    const std::vector<MigrateItem> items{MigrateItem{"s", "5-1", "2", "t1", {"i", "m1", "b", "x"}},
                                         MigrateItem{"d", "m2\x1f" "3", "1700000000000", "t2", {"F1:i2:m2"}},
                                         MigrateItem{"e", "", "4", "t3", {}}};
    CHECK(decoded(migrate_delete_call(kHead, "orders", items), "migrate_source") == json::parse(R"({"mode": "D", "channel": "orders",
        "items": [{"kind": "s", "ref": "5-1", "expect": ""}, {"kind": "d", "ref": "m2\u001f3", "expect": "F1:i2:m2"},
                  {"kind": "e", "ref": "", "expect": "4"}]})"));
    const ScriptCall target = migrate_target_call(kHead, "orders", items);
    CHECK(target.script == &migrate_target_script());
    const json read = decoded(target, "migrate_target");
    CHECK(read["channel"] == "orders");
    REQUIRE(read["items"].size() == 3);
    CHECK(read["items"][0] == json::parse(R"({"kind": "s", "token": "t1", "ref": "5-1", "num": "2", "fields": ["i", "m1", "b", "x"]})"));
    CHECK(read["items"][1]["fields"] == json::parse(R"(["F1:i2:m2"])"));
    CHECK(read["items"][2]["num"] == "4");
}

namespace {

/// A settle of @p channel's delivery @p stream_id (message @p id) without pushes: a plain acknowledgement.
WriteOp plain_settle(std::string_view channel, std::string_view stream_id, std::string_view id, bool resend = false) {
    return WriteOp(SettleArg{resend, {channel, stream_id, id, "1000"}, {}, {}});
}

/// The operations apply_call put in @p apply's call.
json operations_of(const ApplyCall& apply) { return operations(apply.call); }

}  // namespace

TEST_CASE("script args: a plain-acks operation reads back as encoded, ids with any bytes one argument each") {
    ScriptCall call = kHead.call(apply_script());
    const std::string nul_id("nul\0byte", 8);
    PlainAcksArg op{"in", {}};
    op.acks.push_back(PlainAck{false, "5-1", "id with spaces", "100"});
    op.acks.push_back(PlainAck{true, "5-2", "id:\x1f\n\"quoted\"\\", "101"});
    op.acks.push_back(PlainAck{false, "18446744073709551615-0", nul_id, "102"});
    const std::size_t flags = encode(call.args, op);
    CHECK(call.args.at(flags) == "010");
    CHECK(all_resent(3) == "111");
    CHECK(call.args.size() == 6 + plain_acks_parts(3));
    const json ops = operations(call);
    REQUIRE(ops.size() == 1);
    CHECK(ops[0] == json::parse(R"({"op": "A", "channel": "in", "n": 3, "flags": "010",
        "sids": ["5-1", "5-2", "18446744073709551615-0"], "reserved": "100 101 102",
        "ids": ["id with spaces", "id:\u001f\n\"quoted\"\\", "nul\u0000byte"]})"));
}

TEST_CASE("script args: an empty plain-acks operation reads as none, a malformed one is refused by name") {
    ScriptCall call = kHead.call(apply_script());
    encode(call.args, PlainAcksArg{"in", {}});
    const json empty = json::parse(probe(call, "return cjson.encode({read.apply_op()})"));
    CHECK(empty == json::parse(R"([{"op": "A", "channel": "in", "n": 0, "flags": "", "sids": {}, "reserved": "", "ids": {}}])"));

    // Counts that disagree with the packed lists (never encoded so): the operation is not read.
    const auto why = [](std::initializer_list<std::string_view> parts) {
        ScriptCall bad = kHead.call(apply_script());
        for (std::string_view part : parts) bad.args.add(part);
        return json::parse(probe(bad, "local op, why = read.apply_op()\nreturn cjson.encode({op == nil, why})"));
    };
    CHECK(why({"A", "in", "2", "00", "5-1", "1 2", "m1"}) ==
          json::parse(R"j([true, "malformed plain acknowledgements (count 2)"])j"));
    CHECK(why({"A", "in", "2", "0", "5-1 5-2", "1 2", "m1", "m2"}) ==
          json::parse(R"j([true, "malformed plain acknowledgements (2 ids, 2 stream ids, 1 flags)"])j"));
    CHECK(why({"A", "in", "1", "0", "5-1 5-2", "1", "m1"}) ==
          json::parse(R"j([true, "malformed plain acknowledgements (1 ids, 2 stream ids, 1 flags)"])j"));
    CHECK(why({"A", "in", "513", "", "", ""}) == json::parse(R"j([true, "malformed plain acknowledgements (count 513)"])j"));
    CHECK(why({"X"}) == json::parse(R"([true, "unknown operation X"])"));
}

TEST_CASE("script args: apply_call packs each channel's plain acknowledgements, ascending, and keeps the others in their turn") {
    std::vector<PushArg> pushes;
    pushes.push_back(PushArg{"next", "p1", std::string("bytes"), "0"});
    std::vector<WriteOp> ops;
    ops.reserve(8);
    ops.push_back(plain_settle("a", "10-0", "m1"));
    ops.emplace_back(SettleArg{false, {"a", "3-0", "m2", "1000"}, std::move(pushes), {}});
    ops.push_back(plain_settle("b", "7-1", "m3", true));
    ops.push_back(plain_settle("a", "9-5", "m4"));   // before 10-0 as numbers, after it as text
    ops.push_back(plain_settle("a", "01-1", "m5"));  // not spelt as Redis writes it: on its own
    ops.push_back(plain_settle("a", "11-0", "p1"));  // the push's id: on its own
    ops.emplace_back(ReleaseArg{false, {"a", "12-0", "m6", "1000"}, "0"});
    ops.push_back(plain_settle("a", "12-0", "m7"));  // the released delivery: on its own
    std::vector<WriteOp*> all;
    for (WriteOp& op : ops) all.push_back(&op);

    ApplyCall apply = apply_call(kHead, apply_script(), all);
    const std::vector<WriteOp*> answers{&ops[3], &ops[0], &ops[1], &ops[2], &ops[4], &ops[5], &ops[6], &ops[7]};
    CHECK(apply.answers == answers);
    json read = operations_of(apply);
    REQUIRE(read.size() == 7);
    CHECK(read[0] == json::parse(R"({"op": "A", "channel": "a", "n": 2, "flags": "00", "sids": ["9-5", "10-0"],
        "reserved": "1000 1000", "ids": ["m4", "m1"]})"));
    CHECK(read[1]["op"] == "S");
    CHECK(read[2] == json::parse(R"({"op": "A", "channel": "b", "n": 1, "flags": "1", "sids": ["7-1"],
        "reserved": "1000", "ids": ["m3"]})"));
    CHECK(read[3]["sid"] == "01-1");
    CHECK(read[4]["id"] == "p1");
    CHECK(read[5]["op"] == "R");
    CHECK(read[6]["sid"] == "12-0");
    CHECK(read[6]["op"] == "S");

    // A repeat flags every operation, every acknowledgement of a packed one too.
    apply.flag_resend();
    read = operations_of(apply);
    CHECK(read[0]["flags"] == "11");
    CHECK(read[2]["flags"] == "1");
    for (std::size_t k : {1, 3, 4, 5, 6}) CHECK(read[k]["resend"] == "1");
}

TEST_CASE("script args: more plain acknowledgements of one channel than one operation carries go as two") {
    std::vector<std::string> sids, ids;
    for (std::size_t i = 0; i <= kMaxPlainAcks; ++i) {
        sids.push_back("7-" + std::to_string(kMaxPlainAcks - i));  // descending: sent ascending
        ids.push_back("m" + std::to_string(i));
    }
    std::vector<WriteOp> ops;
    ops.reserve(sids.size());
    for (std::size_t i = 0; i < sids.size(); ++i) ops.push_back(plain_settle("in", sids[i], ids[i]));
    std::vector<WriteOp*> all;
    for (WriteOp& op : ops) all.push_back(&op);
    const ApplyCall apply = apply_call(kHead, apply_script(), all);
    const json read = operations_of(apply);
    REQUIRE(read.size() == 2);
    CHECK(read[0]["n"] == kMaxPlainAcks);
    CHECK(read[0]["sids"].front() == "7-1");
    CHECK(read[0]["sids"].back() == "7-512");
    CHECK(read[1]["n"] == 1);
    CHECK(read[1]["sids"] == json::array({"7-0"}));
    REQUIRE(apply.answers.size() == sids.size());
    CHECK(apply.answers.front() == &ops[kMaxPlainAcks - 1]);
    CHECK(apply.answers.back() == &ops[kMaxPlainAcks]);
}

TEST_CASE("script args: a call of plain acknowledgements sent again answers done by an earlier try only when flagged as a repeat") {
    const std::string prefix = rt::unique_prefix("args");
    failpipe::RedisAdapter adapter(rt::options_on(rt::test_redis_url(), prefix));
    std::vector<failpipe::OutgoingMessage> batch;
    for (int i = 0; i < 4; ++i) batch.push_back({"in", failpipe::Message::create("job", i), Seconds{0.0}});
    adapter.push_batch(std::move(batch));
    const auto held = adapter.reserve({"in"}, 4, std::chrono::milliseconds(0));
    REQUIRE(held.size() == 4);
    // A receipt is "<stream id> <reserved ms> <message id>".
    std::vector<WriteOp> ops;
    ops.reserve(held.size());
    for (const auto& delivery : held) {
        const std::string_view receipt = delivery.receipt;
        const auto first = receipt.find(' '), second = receipt.find(' ', first + 1);
        ops.emplace_back(SettleArg{false, {delivery.channel, receipt.substr(0, first), receipt.substr(second + 1),
                                           receipt.substr(first + 1, second - first - 1)}, {}, {}});
    }
    std::vector<WriteOp*> all;
    for (WriteOp& op : ops) all.push_back(&op);
    const ScriptHead head("{" + prefix + "}", "30000");
    ApplyCall apply = apply_call(head, apply_script(), all);
    REQUIRE(operations_of(apply).size() == 1);  // one plain-acks operation

    const Endpoint endpoint = parse_url(rt::test_redis_url());
    Counters counters;
    Connection connection(endpoint, Seconds{2.0}, Seconds{5.0}, counters);
    const auto statuses = [&] {
        for (WriteOp* op : all) op->status = -1;
        take_statuses(*run_script(connection, apply.call), apply.answers, "test");
        std::vector<long long> out;
        for (const WriteOp& op : ops) out.push_back(op.status);
        return out;
    };
    CHECK(statuses() == std::vector<long long>{1, 1, 1, 1});
    CHECK(statuses() == std::vector<long long>{0, 0, 0, 0});  // not flagged: stale
    apply.flag_resend();
    CHECK(statuses() == std::vector<long long>{2, 2, 2, 2});  // the reply of the first was lost
    CHECK(adapter.depth("in").total() == 0);
}
