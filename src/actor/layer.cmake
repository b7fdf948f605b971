# actor/layer.cmake: extra build steps of the actor layer: the host's single copy of the
# wasm2c runtime (compiled with the same -D flags as every actor module: a mismatch would let
# out-of-bounds accesses corrupt host memory), and the example and hostile actors in actors/
# built to wasm32 with clang-14 and wasm-ld.
set(EC_WASM_MAX_CALL_DEPTH 2000)
set(EC_WASM_RT_DIR /usr/src/wasm2c)
if(NOT EXISTS ${EC_WASM_RT_DIR}/wasm-rt-impl.c)
  message(FATAL_ERROR "actor layer: ${EC_WASM_RT_DIR}/wasm-rt-impl.c missing (install wabt)")
endif()

set(EC_WASM_DEFS WASM_RT_MEMCHECK_SIGNAL_HANDLER=0
    WASM_RT_MAX_CALL_STACK_DEPTH=${EC_WASM_MAX_CALL_DEPTH}
    EC_WASM_MAX_CALL_DEPTH=${EC_WASM_MAX_CALL_DEPTH})
file(GLOB EC_ACTOR_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/actor/*.c)
set_source_files_properties(${EC_ACTOR_SOURCES} PROPERTIES COMPILE_DEFINITIONS
                            "${EC_WASM_DEFS}")
# Its globals become thread-local through a header included first (wasm_tls.h says how).
set_source_files_properties(${EC_WASM_RT_DIR}/wasm-rt-impl.c PROPERTIES COMPILE_DEFINITIONS
                            "${EC_WASM_DEFS}" COMPILE_OPTIONS
                            "-w;-include;${CMAKE_SOURCE_DIR}/src/actor/wasm_tls.h")
# Both libraries are made from evchain_obj's objects: the runtime joins them there.
target_sources(evchain_obj PRIVATE ${EC_WASM_RT_DIR}/wasm-rt-impl.c)
target_include_directories(evchain_obj PRIVATE ${EC_WASM_RT_DIR})

# Actors: actors/<name>.c -> <build>/actors/<name>.wasm. No libc: evchain_abi.h gives the
# few helpers they need. --stack-first makes a C stack overflow trap instead of corrupting
# data; the declared maximum (64 MiB) is above the runtime's default cap on purpose, so the
# memory bomb tests the cap, not the link flag.
find_program(EC_CLANG_WASM NAMES clang-14 clang)
file(GLOB EC_ACTOR_C CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/actors/*.c)
set(EC_ACTOR_WASM)
foreach(src ${EC_ACTOR_C})
  get_filename_component(name ${src} NAME_WE)
  set(out ${CMAKE_BINARY_DIR}/actors/${name}.wasm)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/actors
    COMMAND ${EC_CLANG_WASM} --target=wasm32-unknown-unknown -O2 -nostdlib -fno-builtin
            -Wall -Wextra -Werror -Wl,--no-entry -Wl,--stack-first -Wl,-z,stack-size=65536
            -Wl,--max-memory=67108864 -fuse-ld=lld -o ${out} ${src}
    DEPENDS ${src} ${CMAKE_SOURCE_DIR}/actors/evchain_abi.h ${CMAKE_SOURCE_DIR}/actors/counter.c
    COMMENT "actor ${name}.wasm" VERBATIM)
  list(APPEND EC_ACTOR_WASM ${out})
endforeach()
add_custom_target(evchain_actors ALL DEPENDS ${EC_ACTOR_WASM})
