# Writes the hostile config files of tests/cli into OUT (a directory of the build tree), so that no
# large file is committed. Run with: cmake -DOUT=<dir> -P make_hostile.cmake
if(NOT OUT)
  message(FATAL_ERROR "make_hostile.cmake: set OUT")
endif()
file(MAKE_DIRECTORY "${OUT}")

# A classification regex of 20,000 nested groups (std::regex would recurse once per group).
string(REPEAT "(" 20000 open)
string(REPEAT ")" 20000 close)
file(WRITE "${OUT}/nested-regex.json" "{\"classification\": [{\"message\": \"${open}a${close}\", \"class\": \"permanent\"}]}\n")

# Arrays nested 20,000 deep and objects nested 10,000 deep.
string(REPEAT "[" 20000 open)
string(REPEAT "]" 20000 close)
file(WRITE "${OUT}/deep-arrays.json" "${open}${close}\n")
string(REPEAT "{\"a\": " 10000 open)
string(REPEAT "}" 10000 close)
file(WRITE "${OUT}/deep-objects.json" "${open}1${close}\n")

# 50 MB: beyond the document size limit.
string(REPEAT " " 52428800 blanks)
file(WRITE "${OUT}/big.json" "{${blanks}}\n")
set(blanks "")

# About 1.5 MB of distinct unknown keys: within the size limit, 100,000 problems.
set(chunk "")
foreach(i RANGE 0 999)
  string(APPEND chunk "\"unknown-key-@-${i}\": 0, ")
endforeach()
set(keys "")
foreach(i RANGE 0 99)
  string(REPLACE "@" "${i}" part "${chunk}")
  string(APPEND keys "${part}")
endforeach()
file(WRITE "${OUT}/many-unknown-keys.json" "{${keys}\"last\": 0}\n")

# A million middlewares in one pipeline.
string(REPEAT "{}, " 999999 middlewares)
file(WRITE "${OUT}/million-middlewares.json" "{\"defaultPipeline\": [${middlewares}{}]}\n")

# A FIFO nobody writes to.
file(REMOVE "${OUT}/fifo.json")
execute_process(COMMAND mkfifo "${OUT}/fifo.json" RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "make_hostile.cmake: mkfifo failed: ${status}")
endif()

# A message line whose data nests 100,000 arrays (copying or serialising it would recurse that deep).
string(REPEAT "[" 100000 open)
string(REPEAT "]" 100000 close)
file(WRITE "${OUT}/deep-line.jsonl" "{\"type\": \"t\", \"data\": 1}\n{\"type\": \"t\", \"data\": ${open}${close}}\n")
