find_package(GTest REQUIRED)
include(GoogleTest)

# promsidecar_unit_test(NAME SOURCES... DEPS...): a GoogleTest binary whose
# cases ctest lists one by one, labelled "unit" (the sanitizer build runs
# exactly these).
function(promsidecar_unit_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  if(PROMSIDECAR_FUZZ)
    return()  # the fuzz build holds fuzz targets only
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE promsidecar_options ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE PROMSIDECAR_TESTDATA="${PROJECT_SOURCE_DIR}/test/testdata")
  gtest_discover_tests(${name} TEST_PREFIX "${name}." PROPERTIES LABELS unit TIMEOUT 300 DISCOVERY_TIMEOUT 60)
endfunction()

# promsidecar_integration_test(NAME SOURCES... DEPS... [FIXTURES ...] [LOCK ...]):
# a GoogleTest binary that talks to real processes (the control plane,
# Prometheus). Labelled "integration"; never built in the sanitizer build.
function(promsidecar_integration_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;FIXTURES;LOCK" ${ARGN})
  if(PROMSIDECAR_UNIT_TESTS_ONLY OR PROMSIDECAR_FUZZ)
    return()
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 600)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE promsidecar_options ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${name} PRIVATE PROMSIDECAR_TESTDATA="${PROJECT_SOURCE_DIR}/test/testdata"
    PROMSIDECAR_SOURCE_DIR="${PROJECT_SOURCE_DIR}" PROMSIDECAR_BINARY_DIR="${PROJECT_BINARY_DIR}")
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS integration TIMEOUT ${ARG_TIMEOUT})
  if(ARG_FIXTURES)
    set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED "${ARG_FIXTURES}")
  endif()
  if(ARG_LOCK)
    set_tests_properties(${name} PROPERTIES RESOURCE_LOCK "${ARG_LOCK}")
  endif()
endfunction()

# The format check: every C++ file git tracks must match .clang-format.
if(NOT PROMSIDECAR_UNIT_TESTS_ONLY AND NOT PROMSIDECAR_FUZZ)
  add_test(NAME lint.clang-format COMMAND ${PROJECT_SOURCE_DIR}/scripts/check-format)
  set_tests_properties(lint.clang-format PROPERTIES LABELS lint)
  # No build output (build dirs, logs, WAL segments) or large binary is tracked.
  add_test(NAME lint.tracked-files COMMAND ${PROJECT_SOURCE_DIR}/scripts/check-tracked)
  set_tests_properties(lint.tracked-files PROPERTIES LABELS lint)
endif()
