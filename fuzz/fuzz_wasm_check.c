/* fuzz/fuzz_wasm_check.c: libFuzzer harness for the WebAssembly module reader that checks
 * a module's imports, memory and exports against ABI v1 before anything compiles or runs it:
 * the first code to read an untrusted module. */
#include <stdint.h>
#include <stdlib.h>

#include <evchain/evchain.h>
#include "actor/wasm_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ec_wasm_info info;
    int strict = ec_wasm_check(data, size, "fuzz.wasm", 0, &info);
    int lenient = ec_wasm_check(data, size, "fuzz.wasm", 1, &info);
    /* Allowing the fuel import can only accept more modules, never fewer. */
    if (strict == 0 && lenient != 0)
        abort();
    return 0;
}
