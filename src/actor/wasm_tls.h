/* actor/wasm_tls.h: wasm2c's per-call runtime state made thread-local, so that actors run on
 * several threads at once. Included before <wasm-rt.h> by the host's copy of the runtime
 * (layer.cmake: -include) and by actor_int.h; modules get the depth part (module.c).
 *
 * wasm2c 1.0.32 keeps the call depth, the depth saved at wasm_rt_impl_try, the trap jump
 * buffer and the unwind target in globals. Each name is defined here as a macro for an
 * lvalue of a thread-local variable, through an inline function so that the runtime's own
 * declarations of them (`extern uint32_t wasm_rt_call_stack_depth;`, `jmp_buf
 * wasm_rt_jmp_buf;`) become harmless redeclarations of that function. The variables are
 * defined once, in runtime.c, with the initial-exec model: a module's prologue reaches the
 * depth with one %fs-relative load, as fast as the global it replaces. What must stay true:
 * the module prelude in module.c names the same variable, with the same type. */
#ifndef EVCHAIN_ACTOR_WASM_TLS_H
#define EVCHAIN_ACTOR_WASM_TLS_H

#include <setjmp.h>
#include <stdint.h>

#define EC_WASM_TLS __attribute__((tls_model("initial-exec")))

extern __thread uint32_t ec_wasm_depth_tls EC_WASM_TLS;
extern __thread uint32_t ec_wasm_saved_depth_tls EC_WASM_TLS;
extern __thread jmp_buf ec_wasm_jmp_buf_tls EC_WASM_TLS;
extern __thread jmp_buf *ec_wasm_unwind_target_tls EC_WASM_TLS;

static inline uint32_t *ec_wasm_depth(void)
{
    return &ec_wasm_depth_tls;
}
static inline uint32_t *ec_wasm_saved_depth(void)
{
    return &ec_wasm_saved_depth_tls;
}
static inline jmp_buf *ec_wasm_jmp_buf(void)
{
    return &ec_wasm_jmp_buf_tls;
}
static inline jmp_buf **ec_wasm_unwind_target(void)
{
    return &ec_wasm_unwind_target_tls;
}

#define wasm_rt_call_stack_depth       (*ec_wasm_depth())
#define wasm_rt_saved_call_stack_depth (*ec_wasm_saved_depth())
#define wasm_rt_jmp_buf                (*ec_wasm_jmp_buf())
#define g_unwind_target                (*ec_wasm_unwind_target())

#endif
