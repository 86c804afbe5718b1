# The sanitizer build (issue 12): -DAG_SANITIZE=address,undefined or
# -DAG_SANITIZE=thread (ON means address,undefined). Everything is built with
# the sanitizer, -O1 and line tables, in a build folder of its own; UBSan
# aborts instead of recovering, so a report fails the test. scripts/sanitize
# configures, builds and runs the suite this way.
#
# AG_SANITIZE_LOG_DIR (set by scripts/sanitize): every program built here
# writes its reports to files in that folder, whatever environment it is
# started with (git http-backend starts the hooks with a CGI environment
# built from scratch, so ASAN_OPTIONS would not reach them). The options are
# compiled in (cmake/sanitizer_defaults.cc.in); *SAN_OPTIONS still override them.
# ag_targets_under(DIR OUT): every target defined in DIR and its subfolders
# (here and in fuzz/CMakeLists.txt, which walk the whole tree once it exists).
function(ag_targets_under dir out)
  get_property(found DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub ${subdirs})
    ag_targets_under(${sub} below)
    list(APPEND found ${below})
  endforeach()
  set(${out} ${found} PARENT_SCOPE)
endfunction()

set(AG_SANITIZE "" CACHE STRING "Sanitizers: address,undefined or thread (empty: none)")
set(AG_SANITIZE_LOG_DIR "" CACHE PATH "Folder for sanitizer reports (empty: stderr)")

if(AG_SANITIZE STREQUAL "ON")
  set(AG_SANITIZE address,undefined)
elseif(NOT AG_SANITIZE OR AG_SANITIZE STREQUAL "OFF")
  set(AG_SANITIZE "")
endif()

if(AG_SANITIZE)
  if(NOT AG_SANITIZE MATCHES "^(address|undefined|address,undefined|undefined,address|thread)$")
    message(FATAL_ERROR "AG_SANITIZE=${AG_SANITIZE}: use address,undefined or thread")
  endif()
  set(ag_sanitize_flags -fsanitize=${AG_SANITIZE} -fno-omit-frame-pointer)
  if(AG_SANITIZE MATCHES "undefined")
    # Not the vptr check: to validate an object's vtable, UBSan's runtime tests
    # the memory with a pipe (sanitizer_common IsAccessibleMemoryRange), which
    # fails at the open-file limit and reports "invalid vptr" for a live
    # object; the starvation tests drive the daemon to that limit on purpose.
    # ASan still catches calls on freed objects.
    list(APPEND ag_sanitize_flags -fno-sanitize-recover=undefined -fno-sanitize=vptr)
  endif()
  # -O1 and -g1 (line tables: enough for file:line in reports) come after the
  # build type's flags, so they win over Release's -O2.
  add_compile_options(${ag_sanitize_flags} -O1 -g1)
  add_link_options(-fsanitize=${AG_SANITIZE})

  # Compiled-in default options for every program (see above), added once all
  # targets exist.
  if(AG_SANITIZE_LOG_DIR)
    set(ag_sanitize_log 1)
  else()
    set(ag_sanitize_log 0)
  endif()
  configure_file(${PROJECT_SOURCE_DIR}/cmake/sanitizer_defaults.cc.in
                 ${PROJECT_BINARY_DIR}/sanitizer_defaults.cc @ONLY)
  # Programs that connect to an SSH upstream through libgit2: they record full
  # malloc stacks (slower), so cmake/lsan.supp can recognise libgit2 1.5.1's
  # SSH leaks by a named frame.
  set(AG_SANITIZE_FULL_STACKS replay_ssh_test stall_test sync_test)
  function(ag_sanitize_add_defaults)
    ag_targets_under(${PROJECT_SOURCE_DIR} targets)
    foreach(t ${targets})
      get_target_property(type ${t} TYPE)
      # Not the libFuzzer programs (fuzz/): scripts/fuzz reads their reports
      # from their stderr.
      if(type STREQUAL "EXECUTABLE" AND NOT t MATCHES "^fuzz_")
        target_sources(${t} PRIVATE ${PROJECT_BINARY_DIR}/sanitizer_defaults.cc)
        if(t IN_LIST AG_SANITIZE_FULL_STACKS)
          target_compile_definitions(${t} PRIVATE AG_SANITIZE_FULL_STACKS=1)
        endif()
      endif()
    endforeach()
  endfunction()
  cmake_language(DEFER DIRECTORY ${PROJECT_SOURCE_DIR} CALL ag_sanitize_add_defaults)
endif()
