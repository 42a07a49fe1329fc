# One place for compiler flags: every target of ours gets them through
# promsidecar_options, so third-party headers are never built with -Werror.
add_library(promsidecar_options INTERFACE)
target_compile_options(promsidecar_options INTERFACE -Wall -Wextra -Werror -Wno-missing-field-initializers)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # g++ 12 at -O3 reports a false -Wrestrict inside libstdc++'s string code (GCC bug 105329).
  target_compile_options(promsidecar_options INTERFACE -Wno-restrict)
endif()
target_include_directories(promsidecar_options INTERFACE ${PROJECT_SOURCE_DIR}/src ${PROJECT_BINARY_DIR}/src)
if(PROMSIDECAR_SANITIZE)
  target_compile_options(promsidecar_options INTERFACE
    -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(promsidecar_options INTERFACE -fsanitize=address,undefined)
endif()
if(PROMSIDECAR_FUZZ)
  # UBSan findings must stop the run like ASan's do. -O1 -g whatever the build
  # type: unoptimized ASan code runs ~20x fewer inputs per second, too few for
  # the bounded ctest fuzz runs to find much.
  target_compile_options(promsidecar_options INTERFACE -fsanitize=fuzzer-no-link,address,undefined
    -fno-sanitize-recover=all -O1 -g -fno-omit-frame-pointer)
  target_link_options(promsidecar_options INTERFACE -fsanitize=address,undefined)
endif()

# promsidecar_library(NAME SOURCES... DEPS...) declares one component library.
function(promsidecar_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_link_libraries(${name} PUBLIC promsidecar_options ${ARG_DEPS})
endfunction()
