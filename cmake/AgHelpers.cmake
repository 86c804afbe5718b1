# ag_subdirectories(): add every direct subfolder of the current source folder
# that has a CMakeLists.txt, in name order.
function(ag_subdirectories)
  file(GLOB children RELATIVE ${CMAKE_CURRENT_SOURCE_DIR}
       CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*/CMakeLists.txt)
  list(SORT children)
  foreach(child ${children})
    get_filename_component(dir ${child} DIRECTORY)
    add_subdirectory(${dir})
  endforeach()
endfunction()

# ag_library(NAME SOURCES a.cc b.cc DEPS x y): the library target ag_NAME with
# include paths starting at src/.
function(ag_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(ag_${name} STATIC ${ARG_SOURCES})
  target_include_directories(ag_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(ag_${name} PUBLIC ${ARG_DEPS})
  set_property(GLOBAL APPEND PROPERTY AG_LIBRARIES ag_${name})
endfunction()

# ag_test(NAME SOURCES x_test.cc DEPS ag_x [LABELS e2e]): one gtest binary per
# file, registered with CTest. Tests find the built programs through
# AG_BIN_DIR and the source tree through AG_SOURCE_DIR.
function(ag_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main
                        GTest::gmock)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src
                             ${PROJECT_SOURCE_DIR}/tests)
  target_compile_definitions(${name} PRIVATE
      AG_BIN_DIR="${PROJECT_BINARY_DIR}/bin"
      AG_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT})
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()

# Programs land in build/bin so tests and scripts find them in one place.
set(CMAKE_RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
