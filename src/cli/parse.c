/* cli/parse.c: values of options and manifest fields, parsed strictly (the whole string, no
 * sign, no overflow). Apart from main.c so that a fuzz harness can link it. */
#include <stdint.h>
#include <string.h>

#include "cli.h"

int cli_parse_u64(const char *s, uint64_t *out)
{
    /* Digits only: strtoull would also take leading white space, a sign (negating " -1"
     * into 2^64-1) and, with base 0, a 0x prefix. */
    if (!s || !*s)
        return -1;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int cli_parse_listen(const char *v, char *addr, size_t cap, unsigned *port)
{
    const char *colon = strrchr(v, ':');
    uint64_t p;
    if (!colon || colon == v || cli_parse_u64(colon + 1, &p) || p > 65535)
        return -1;
    const char *a = v;
    size_t n = (size_t)(colon - v);
    if (a[0] == '[') {
        if (n < 3 || a[n - 1] != ']')
            return -1;
        a++;
        n -= 2;
    }
    if (n >= cap)
        return -1;
    memcpy(addr, a, n);
    addr[n] = 0;
    *port = (unsigned)p;
    return 0;
}
