/* fuzz/fuzz_bundle.c: libFuzzer harness for the actor bundle reader (evchain import --bundle
 * reads files from another machine): parse, digests, entries (the sandbox's names and their
 * order among them) and chain records. */
#include <stdint.h>
#include <stdlib.h>

#include <evchain/evchain.h>
#include <evchain/replay.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int rc = ec_bundle_check(data, size);
    /* Anything but a clean answer (accepted, malformed, does not verify, a format version
     * it does not read) is a bug. */
    if (rc != 0 && rc != EC_EFORMAT && rc != EC_EVERIFY && rc != EC_EUNSUPPORTED && rc != EC_ENOMEM)
        abort();
    if (rc != 0 && !ec_error_last())
        abort();
    return 0;
}
