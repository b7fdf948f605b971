/* fuzz/fuzz_checkpoint.c: libFuzzer harness for the C2SP tlog-checkpoint text parser, alone and
 * behind the signed-note layer: parsed fields must come from the input and re-serialize to the
 * text's first three lines. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evchain/evchain.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ec_vkey *key;
    if (!key) {
        const char *v = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
        if (ec_vkey_parse(&key, v, strlen(v)) != 0)
            abort();
    }
    const char *text = (const char *)data;
    ec_checkpoint cp;
    if (ec_checkpoint_parse(&cp, text, size) == 0) {
        /* What was parsed prints back as the first three lines. */
        char *t;
        if (ec_checkpoint_text(&t, cp.origin, cp.size, cp.root) == 0) {
            size_t n = strlen(t);
            if (n > size || memcmp(t, text, n) != 0)
                abort();
            free(t);
        }
    }
    (void)ec_checkpoint_open(&cp, text, size, &key, 1);
    return 0;
}
