# Runs the failpipe binary once and checks what it did. Included by the per-test scripts that
# tests/cli/CMakeLists.txt generates, which set:
#   EXE, WORKDIR, ARGS (list), EXIT (expected status), SCRATCH (a directory of the build tree),
#   STDOUT_FILE (exact expected stdout, optional),
#   STDOUT, STDERR (lists of regular expressions that must match; "\n" stands for a newline),
#   NOT_OUTPUT (regular expressions that must match neither stream),
#   EMPTY_STDOUT, EMPTY_STDERR (TRUE when that stream must be empty).
#   Broker tests (REDIS TRUE) also get, in ARGS: @URL@ (FAILPIPE_TEST_REDIS_URL; the test is
#   skipped without it), @PREFIX@ (a key prefix of their own), @HOSTPORT@ (host:port of
#   that server), @FREE_PORT@ (a port of 127.0.0.1 where nothing listens) and @BULK@ (a file of
#   BULK_LINES generated message lines); ENV_REDIS_URL (optional, with the same @...@) becomes the
#   environment's FAILPIPE_REDIS_URL, which is otherwise unset. TTY (the path of script(1)) runs
#   the last step on a pseudo-terminal. The words "&&" and "||" separate steps, as in a shell: a
#   step followed by "&&" must exit 0, one followed by "||" may fail; the last step is checked.
#   A step starting with run-worker runs WORKER (a real Worker: tests/cli/dead_letter_worker.cpp) instead
#   of the failpipe binary.
if(REDIS)
  if("$ENV{FAILPIPE_TEST_REDIS_URL}" STREQUAL "")
    message("skipped: FAILPIPE_TEST_REDIS_URL is not set (source scripts/redis-test-server.sh)")
    return()
  endif()
  set(url "$ENV{FAILPIPE_TEST_REDIS_URL}")
  string(REGEX REPLACE "^redis://([^/]*@)?([^/]*).*$" "\\2" hostport "${url}")
  string(RANDOM LENGTH 8 ALPHABET 0123456789abcdef nonce)
  string(REPLACE "@URL@" "${url}" ARGS "${ARGS}")
  string(REPLACE "@PREFIX@" "clitest-${nonce}" ARGS "${ARGS}")
  string(REPLACE "@HOSTPORT@" "${hostport}" ARGS "${ARGS}")
endif()
if(ARGS MATCHES "@FREE_PORT@" OR ENV_REDIS_URL MATCHES "@FREE_PORT@")
  # Bind port 0, read the port, close it: nothing listens there afterwards (python3 when present).
  set(free_port 1)
  find_program(PYTHON3 python3)
  if(PYTHON3)
    execute_process(COMMAND "${PYTHON3}" -c
                    "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1]); s.close()"
                    OUTPUT_VARIABLE free_port OUTPUT_STRIP_TRAILING_WHITESPACE)
  endif()
  string(REPLACE "@FREE_PORT@" "${free_port}" ARGS "${ARGS}")
endif()
if(BULK_LINES)
  file(MAKE_DIRECTORY "${SCRATCH}")
  set(lines "")
  math(EXPR last "${BULK_LINES} - 1")
  foreach(i RANGE 0 ${last})
    string(APPEND lines "{\"type\": \"bulk\", \"data\": {\"n\": ${i}}}\n")
  endforeach()
  file(WRITE "${SCRATCH}/bulk.jsonl" "${lines}")
  string(REPLACE "@BULK@" "${SCRATCH}/bulk.jsonl" ARGS "${ARGS}")
endif()

# The broker of FAILPIPE_REDIS_URL is the test's own choice (ENV_REDIS_URL), never the caller's.
unset(ENV{FAILPIPE_REDIS_URL})
if(DEFINED ENV_REDIS_URL)
  string(REPLACE "@URL@" "${url}" ENV_REDIS_URL "${ENV_REDIS_URL}")
  string(REPLACE "@FREE_PORT@" "${free_port}" ENV_REDIS_URL "${ENV_REDIS_URL}")
  set(ENV{FAILPIPE_REDIS_URL} "${ENV_REDIS_URL}")
endif()

set(step "")
foreach(word IN LISTS ARGS)
  if(word STREQUAL "&&" OR word STREQUAL "||")
    set(program "${EXE}")
    list(GET step 0 first)
    if(first STREQUAL "run-worker")
      set(program "${WORKER}")
      list(REMOVE_AT step 0)
    endif()
    execute_process(COMMAND "${program}" ${step} WORKING_DIRECTORY "${WORKDIR}"
                    RESULT_VARIABLE step_status OUTPUT_VARIABLE step_out ERROR_VARIABLE step_err)
    if(word STREQUAL "&&" AND NOT step_status STREQUAL "0")
      string(REPLACE ";" " " shown "${step}")
      message(FATAL_ERROR "step failed (${step_status}): failpipe ${shown}\n${step_out}${step_err}")
    endif()
    set(step "")
  else()
    list(APPEND step "${word}")
  endif()
endforeach()
set(ARGS "${step}")

if(TTY)
  # On a pseudo-terminal made by script(1): stdout and stderr both arrive in `out`.
  set(line "")
  foreach(word IN ITEMS "${EXE}" ${ARGS})
    string(REPLACE "'" "'\\''" word "${word}")
    string(APPEND line " '${word}'")
  endforeach()
  execute_process(COMMAND "${TTY}" -qec "${line}" /dev/null
                  WORKING_DIRECTORY "${WORKDIR}"
                  RESULT_VARIABLE status
                  OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
else()
  execute_process(COMMAND "${EXE}" ${ARGS}
                  WORKING_DIRECTORY "${WORKDIR}"
                  RESULT_VARIABLE status
                  OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
endif()

set(problems "")
function(problem text)
  set(problems "${problems}\n  - ${text}" PARENT_SCOPE)
endfunction()

# Bracket arguments keep regular expressions literal, so "\n" arrives as two characters.
function(expand_newlines out_var re)
  string(REPLACE "\\n" "\n" re "${re}")
  set(${out_var} "${re}" PARENT_SCOPE)
endfunction()

if(NOT "${status}" STREQUAL "${EXIT}")
  problem("exit status ${status}, expected ${EXIT}")
endif()
if(DEFINED STDOUT_FILE)
  file(READ "${STDOUT_FILE}" expected)
  if(NOT out STREQUAL expected)
    file(WRITE "${SCRATCH}/actual-stdout.txt" "${out}")
    problem("stdout differs from ${STDOUT_FILE} (actual output in ${SCRATCH}/actual-stdout.txt)")
  endif()
endif()
foreach(re IN LISTS STDOUT)
  expand_newlines(re "${re}")
  if(NOT out MATCHES "${re}")
    problem("stdout does not match: ${re}")
  endif()
endforeach()
foreach(re IN LISTS STDERR)
  expand_newlines(re "${re}")
  if(NOT err MATCHES "${re}")
    problem("stderr does not match: ${re}")
  endif()
endforeach()
foreach(re IN LISTS NOT_OUTPUT)
  expand_newlines(re "${re}")
  if(out MATCHES "${re}" OR err MATCHES "${re}")
    problem("output matches what it must not: ${re}")
  endif()
endforeach()
if(EMPTY_STDOUT AND NOT out STREQUAL "")
  problem("stdout is not empty")
endif()
if(EMPTY_STDERR AND NOT err STREQUAL "")
  problem("stderr is not empty")
endif()

if(NOT problems STREQUAL "")
  string(REPLACE ";" " " shown_args "${ARGS}")
  message(FATAL_ERROR "failpipe ${shown_args}${problems}\n--- stdout ---\n${out}--- stderr ---\n${err}")
endif()
