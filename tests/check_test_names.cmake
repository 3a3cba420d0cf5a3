# ctest splits a discovered doctest name at ';' and runs each half as a filter that matches nothing:
# such a test passes without running. Fails when a test name in the sources holds a ';'.
file(GLOB_RECURSE sources "${SOURCE_DIR}/*.cpp" "${SOURCE_DIR}/*.hpp")
set(found "")
foreach(source IN LISTS sources)
  file(STRINGS "${source}" lines REGEX "(TEST_CASE|_CASE)\\(.*\"[^\"]*;[^\"]*\"")
  foreach(line IN LISTS lines)
    string(APPEND found "\n  ${source}: ${line}")
  endforeach()
endforeach()
if(found)
  message(FATAL_ERROR "test names with ';' (ctest would split them and run nothing):${found}")
endif()
