# Runs the failpipe binary once and checks what it did. Included by the per-test scripts that
# tests/cli/CMakeLists.txt generates, which set:
#   EXE, WORKDIR, ARGS (list), EXIT (expected status), SCRATCH (a directory of the build tree),
#   STDOUT_FILE (exact expected stdout, optional),
#   STDOUT, STDERR (lists of regular expressions that must match; "\n" stands for a newline),
#   NOT_OUTPUT (regular expressions that must match neither stream),
#   EMPTY_STDOUT, EMPTY_STDERR (TRUE when that stream must be empty).
execute_process(COMMAND "${EXE}" ${ARGS}
                WORKING_DIRECTORY "${WORKDIR}"
                RESULT_VARIABLE status
                OUTPUT_VARIABLE out
                ERROR_VARIABLE err)

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
