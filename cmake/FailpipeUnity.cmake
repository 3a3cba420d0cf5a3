# failpipe_unity_build(<target> [SKIP <source>...])
#
# With FAILPIPE_UNITY=ON, <target> compiles in unity batches: each batch of 8 sources is one
# translation unit, so the templates they share (nlohmann::json, spdlog, the standard library) are
# compiled once per batch instead of once per file. Sources whose file-local names collide with
# another file's, or that otherwise do not compile inside a batch, are listed after SKIP (paths
# relative to the folder that defines <target>) and compile alone. Without FAILPIPE_UNITY: nothing.
#
# A new collision shows as a "redefinition" or "ambiguous" error in a Unity/unity_N_cxx.cxx file of
# a sanitizer or fuzz build only (scripts/sanitize.sh and scripts/fuzz.sh then rebuild file by file
# once, so the run still completes). Give the helper a name of its own, or move it into a shared test
# header when it is the same; SKIP is for a file that cannot join a batch otherwise. Overloads are the
# quiet case: two files' helpers of one name with different parameters compile, and a call in the
# later file may pick the earlier file's; file-local names unique within a target avoid both.
function(failpipe_unity_build target)
  if(NOT FAILPIPE_UNITY)
    return()
  endif()
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "SKIP")
  set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE 8)
  if(ARG_SKIP)
    get_target_property(source_dir ${target} SOURCE_DIR)
    list(TRANSFORM ARG_SKIP PREPEND "${source_dir}/")
    set_source_files_properties(${ARG_SKIP} TARGET_DIRECTORY ${target} PROPERTIES SKIP_UNITY_BUILD_INCLUSION ON)
  endif()
endfunction()
