# failpipe_install_component(<target> <component> [DEPENDENCIES <line>...])
#
# Installs <target> and the calling folder's include/failpipe as the component <component> of the
# failpipe package: failpipe-<component>-targets.cmake and failpipe-<component>-config.cmake, which
# failpipeConfig.cmake includes for find_package(failpipe COMPONENTS <component>). DEPENDENCIES are
# the lines that config file runs first to find what <target> links (after
# include(CMakeFindDependencyMacro)), e.g. "find_dependency(PkgConfig)".
function(failpipe_install_component target component)
  cmake_parse_arguments(PARSE_ARGV 2 ARG "" "" "DEPENDENCIES")
  set(export_set failpipe_${component}_targets)
  set(package_dir ${CMAKE_INSTALL_LIBDIR}/cmake/failpipe)
  install(TARGETS ${target} EXPORT ${export_set}
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(DIRECTORY include/failpipe DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(EXPORT ${export_set} NAMESPACE failpipe:: FILE failpipe-${component}-targets.cmake
          DESTINATION ${package_dir})
  set(content "include(CMakeFindDependencyMacro)\n")
  foreach(line IN LISTS ARG_DEPENDENCIES)
    string(APPEND content "${line}\n")
  endforeach()
  string(APPEND content "include(\"\${CMAKE_CURRENT_LIST_DIR}/failpipe-${component}-targets.cmake\")\n")
  set(config_file "${CMAKE_CURRENT_BINARY_DIR}/failpipe-${component}-config.cmake")
  file(CONFIGURE OUTPUT "${config_file}" CONTENT "${content}" @ONLY)
  install(FILES "${config_file}" DESTINATION ${package_dir})
endfunction()
