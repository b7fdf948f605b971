/* fuzz/fuzz_http_codec.c: libFuzzer harness for the HTTP payload decoder (docs/FORMAT.md
 * section 7), which reads recorded bytes back from chains of any origin. Checks, beyond "no
 * crash": every view lies inside the input, a decoded payload encodes back to exactly the
 * same bytes (one message, one encoding), and the JSON rendering never fails on it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evchain/http.h>

static int inside(const void *p, size_t n, const uint8_t *data, size_t size)
{
    return n == 0 || ((const uint8_t *)p >= data && (const uint8_t *)p + n <= data + size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ec_http_msg m;
    if (ec_http_decode(&m, data, size) != 0)
        return 0;
    if (!inside(m.method, m.method_len, data, size) ||
        !inside(m.target, m.target_len, data, size) ||
        !inside(m.reason, m.reason_len, data, size) || !inside(m.body, m.body_len, data, size))
        abort();
    for (size_t i = 0; i < m.header_count; i++)
        if (!inside(m.headers[i].name, m.headers[i].name_len, data, size) ||
            !inside(m.headers[i].value, m.headers[i].value_len, data, size))
            abort();
    uint8_t *enc = NULL;
    size_t len = 0;
    if (ec_http_encode_alloc(&m, &enc, &len) != 0 || len != size || memcmp(enc, data, size) != 0)
        abort();
    free(enc);
    char *json = NULL;
    if (ec_http_to_json(data, size, &json) != 0)
        abort();
    free(json);
    ec_http_msg_clear(&m);
    return 0;
}
