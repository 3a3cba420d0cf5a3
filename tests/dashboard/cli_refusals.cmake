# `failpipe dashboard` refuses before binding anything: exit 2 and one clear line on stderr.
function(expect_refusal expected_regex)
  execute_process(COMMAND "${EXE}" dashboard ${ARGN} --redis redis://127.0.0.1:1
                  RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 20)
  if(NOT status EQUAL 2)
    message(FATAL_ERROR "failpipe dashboard ${ARGN}: exit ${status}, expected 2\nstdout: ${out}\nstderr: ${err}")
  endif()
  if(NOT err MATCHES "${expected_regex}")
    message(FATAL_ERROR "failpipe dashboard ${ARGN}: stderr does not match ${expected_regex}:\n${err}")
  endif()
  if(out MATCHES "serving")
    message(FATAL_ERROR "failpipe dashboard ${ARGN}: it served anyway:\n${out}")
  endif()
endfunction()

expect_refusal("failpipe dashboard: --listen \"0.0.0.0:8080\" is not a loopback address: other machines could reach the dashboard; add --allow-non-loopback"
               --listen 0.0.0.0:8080)
expect_refusal("--listen \"\\[::\\]:8080\" is not a loopback address" --listen [::]:8080)
expect_refusal("--listen \"example.com:80\"" --listen example.com:80)
expect_refusal("no such file|does not exist|not found" --token-file /nonexistent/token)

# A token file other users can read (or change) is refused, naming the file and the fix.
string(RANDOM LENGTH 8 _suffix)
set(open_token "${CMAKE_CURRENT_BINARY_DIR}/failpipe-open-token-${_suffix}")
file(WRITE "${open_token}" "token-0123456789abcdef\n")
file(CHMOD "${open_token}" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
expect_refusal("^failpipe dashboard: the token file .*failpipe-open-token-${_suffix} is open to other users \\(mode 0644\\): make it readable by its owner only, with chmod 600 "
               --token-file "${open_token}")
file(REMOVE "${open_token}")

# --allow-host names Host values, nothing else: a URL, a wildcard or an empty name is refused.
expect_refusal("^failpipe dashboard: --allow-host \"http://evil.example/\": allowed_hosts holds .*not a host name"
               --allow-host "http://evil.example/")
expect_refusal("--allow-host \"\\*.example.com\": .*not a host name" --allow-host "*.example.com")
expect_refusal("--allow-host \"dash.example.com,\": .*not a host name" --allow-host "dash.example.com,")

# A config the loader refuses is a usage error listing its problems, as for every broker command.
set(not_object "${CMAKE_CURRENT_BINARY_DIR}/failpipe-not-object-${_suffix}.json")
file(WRITE "${not_object}" "[]\n")
expect_refusal("^failpipe dashboard: --config \"[^\"]*failpipe-not-object-${_suffix}\\.json\" is not a valid config. nothing was read or written:\n  [^\n]*: /: expected a JSON object at the top level, found \\[\\]"
               --config "${not_object}")
file(REMOVE "${not_object}")
