# Sanitizer and fuzzing builds. Included from the top-level CMakeLists.txt before any target, so
# every target of the build (the library, the adapters, the tests) is instrumented the same way:
# a sanitizer only sees what was compiled with it, and libFuzzer only steers by covered code.
#
#   -DFAILPIPE_SANITIZE=address,undefined   g++ or clang: ASan + UBSan, first report is fatal
#   -DFAILPIPE_SANITIZE=thread              g++ or clang: TSan, first report is fatal
#   -DFAILPIPE_FUZZ=ON                      clang only: libFuzzer targets in tests/fuzz, with ASan + UBSan
#
# The build types stay the usual ones; scripts/sanitize.sh and scripts/fuzz.sh pick RelWithDebInfo at -O1.

set(FAILPIPE_SANITIZE "" CACHE STRING "Sanitizers for every target: address,undefined or thread (empty: none)")
option(FAILPIPE_FUZZ "Build the libFuzzer targets in tests/fuzz (clang only; adds ASan and UBSan)" OFF)

set(_fp_sanitizers "${FAILPIPE_SANITIZE}")
if(FAILPIPE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "FAILPIPE_FUZZ=ON needs clang (libFuzzer), found ${CMAKE_CXX_COMPILER_ID}: "
                        "configure with -DCMAKE_CXX_COMPILER=clang++")
  endif()
  if(_fp_sanitizers MATCHES "thread")
    message(FATAL_ERROR "FAILPIPE_FUZZ=ON runs with ASan and UBSan; it cannot be combined with FAILPIPE_SANITIZE=thread")
  endif()
  set(_fp_sanitizers "address,undefined")
endif()

if(_fp_sanitizers)
  if(_fp_sanitizers MATCHES "thread" AND _fp_sanitizers MATCHES "address")
    message(FATAL_ERROR "FAILPIPE_SANITIZE: thread and address cannot be combined")
  endif()
  # Every report fails the run (a sanitizer that only prints is a sanitizer nobody reads), and
  # frame pointers keep the stacks in the reports complete at -O1.
  add_compile_options(-fsanitize=${_fp_sanitizers} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${_fp_sanitizers} -fno-sanitize-recover=all)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC documents that sanitizer instrumentation makes -Wmaybe-uninitialized report false
    # positives (here inside libstdc++'s <regex>), which -Werror would turn into a failed build.
    add_compile_options(-Wno-maybe-uninitialized)
  endif()
  message(STATUS "failpipe: sanitizers ${_fp_sanitizers}")
endif()

if(FAILPIPE_FUZZ)
  # Coverage instrumentation for the code under test; the fuzz targets themselves link the
  # libFuzzer main with -fsanitize=fuzzer (tests/fuzz/CMakeLists.txt).
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
