/* fuzz/fuzz_note.c: libFuzzer harness for the C2SP signed-note parser and verifier and the
 * key parsers: whatever the bytes, a clear error or a verified note, never a crash; and a note
 * that opens has its text inside the input, ending with a newline. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evchain/evchain.h>

/* The C2SP specification's example key, and a second key with the same name. */
static const char vkey_text[] =
    "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ec_vkey *keys[2];
    static size_t nkeys;
    if (!nkeys) {
        ec_signer *s;
        if (ec_vkey_parse(&keys[0], vkey_text, strlen(vkey_text)) != 0 ||
            ec_signer_generate(&s, "example.com/foo") != 0)
            abort();
        char *t;
        if (ec_signer_vkey_text(s, &t) != 0 || ec_vkey_parse(&keys[1], t, strlen(t)) != 0)
            abort();
        free(t);
        ec_signer_free(s);
        nkeys = 2;
    }
    const char *note = (const char *)data;
    ec_note_result r;
    if (ec_note_open(note, size, keys, nkeys, &r) == 0) {
        if (r.text_len == 0 || r.text_len >= size || note[r.text_len - 1] != '\n' ||
            r.verified == 0)
            abort();
    }
    /* The same bytes as key texts. */
    ec_vkey *k;
    if (ec_vkey_parse(&k, note, size) == 0)
        ec_vkey_free(k);
    ec_signer *s;
    if (ec_signer_parse(&s, note, size) == 0)
        ec_signer_free(s);
    return 0;
}
