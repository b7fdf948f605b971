/* actors/badimport.c: imports a function the host does not have: the runtime must refuse the
 * module before running it, naming the import. */
#include "evchain_abi.h"

IMPORT("launch_missiles") i32 launch_missiles(u32 n);

EXPORT("ec_handle_message") i32 on_message(const char *p, u32 n)
{
    (void)p;
    return launch_missiles(n);
}
