/* store/disk.c: placeholder until the durable disk backend lands (issue 3). */
#include <evchain/store.h>
#include "core/internal.h"

int ec_backend_disk(ec_backend **out, const char *dir, const ec_disk_options *opts)
{
    (void)opts;
    *out = NULL;
    return ec_error_set(EC_EUNSUPPORTED, "%s: chain directories are not supported yet", dir);
}
