/* cli/clean.c: how the command prints bytes it does not control (event fields, file content
 * quoted in a library error, command-line arguments) so that they cannot drive the terminal,
 * fake output lines or reorder what is shown (Trojan-source style bidirectional overrides).
 * What must stay true: every byte that is not shown as itself is shown as \xNN (or \uXXXX
 * inside JSON), so the output is still unambiguous about the bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

size_t cli_utf8_next(const uint8_t *p, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    uint32_t c = p[0];
    size_t need;
    uint32_t min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        need = 1, min = 0x80, c &= 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        need = 2, min = 0x800, c &= 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3, min = 0x10000, c &= 0x07;
    } else {
        return 0;
    }
    if (n <= need)
        return 0;
    for (size_t k = 1; k <= need; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[k] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0; /* overlong, beyond Unicode, or a surrogate */
    *cp = c;
    return need + 1;
}

int cli_utf8_valid(const uint8_t *s, size_t n)
{
    uint32_t cp;
    for (size_t i = 0, k; i < n; i += k)
        if ((k = cli_utf8_next(s + i, n - i, &cp)) == 0)
            return 0;
    return 1;
}

int cli_cp_unsafe(uint32_t c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) ||      /* C0, DEL, C1 (CSI, OSC, NEL...) */
           c == 0x061c || c == 0x200e || c == 0x200f || /* ALM, LRM, RLM */
           (c >= 0x2028 && c <= 0x202e) ||              /* LS, PS, LRE RLE PDF LRO RLO */
           (c >= 0x2066 && c <= 0x2069);                /* LRI RLI FSI PDI */
}

static void put_bytes_hex(FILE *out, const uint8_t *p, size_t n)
{
    for (size_t k = 0; k < n; k++)
        fprintf(out, "\\x%02x", p[k]);
}

/* Each unsafe character and each byte that is not valid UTF-8 as \xNN; a backslash as \\
 * when backslash is set (so that \xNN in the output always means an escaped byte). */
static void put_escaped(FILE *out, const char *s, size_t n, int backslash)
{
    const uint8_t *p = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = cli_utf8_next(p + i, n - i, &cp);
        if (k == 0) {
            put_bytes_hex(out, p + i, 1);
            i++;
            continue;
        }
        if (cli_cp_unsafe(cp))
            put_bytes_hex(out, p + i, k);
        else if (cp == '\\' && backslash)
            fputs("\\\\", out);
        else
            fwrite(p + i, 1, k, out);
        i += k;
    }
}

void cli_put_clean(FILE *out, const char *s, size_t n)
{
    put_escaped(out, s, n, 1);
}

void cli_put_msg(FILE *out, const char *s)
{
    put_escaped(out, s, strlen(s), 0);
}

void cli_put_json_clean(FILE *out, const char *s, size_t n)
{
    const uint8_t *p = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = cli_utf8_next(p + i, n - i, &cp);
        if (k == 0) {
            put_bytes_hex(out, p + i, 1); /* not JSON, but never a raw byte */
            i++;
        } else {
            /* In JSON such a character can only stand inside a string, where \uXXXX is the
             * same character: the line stays valid JSON with the same meaning. */
            if (cli_cp_unsafe(cp))
                fprintf(out, "\\u%04x", (unsigned)cp);
            else
                fwrite(p + i, 1, k, out);
            i += k;
        }
    }
}

/* One conversion of a printf format (spec, NUL-terminated, e.g. "%-12.40s") with its
 * argument taken from ap, into a malloc'd string; NULL when out of memory. */
#define CONVERT(T)                                                                                 \
    do {                                                                                           \
        T v_ = va_arg(*ap, T);                                                                     \
        int n_ = snprintf(NULL, 0, spec, v_);                                                      \
        if (n_ < 0 || !(buf = malloc((size_t)n_ + 1)))                                             \
            return NULL;                                                                           \
        snprintf(buf, (size_t)n_ + 1, spec, v_);                                                   \
    } while (0)

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static char *convert_one(const char *spec, char conv, const char *len, va_list *ap)
{
    char *buf = NULL;
    int ll = strcmp(len, "ll") == 0, l = strcmp(len, "l") == 0, z = strcmp(len, "z") == 0,
        j = strcmp(len, "j") == 0, t = strcmp(len, "t") == 0, L = strcmp(len, "L") == 0;
    switch (conv) {
    case 'd':
    case 'i':
        if (ll)
            CONVERT(long long);
        else if (l)
            CONVERT(long);
        else if (z)
            CONVERT(ptrdiff_t); /* %zd: the signed type of size_t's width */
        else if (j)
            CONVERT(intmax_t);
        else if (t)
            CONVERT(ptrdiff_t);
        else
            CONVERT(int);
        break;
    case 'u':
    case 'o':
    case 'x':
    case 'X':
        if (ll)
            CONVERT(unsigned long long);
        else if (l)
            CONVERT(unsigned long);
        else if (z)
            CONVERT(size_t);
        else if (j)
            CONVERT(uintmax_t);
        else if (t)
            CONVERT(size_t);
        else
            CONVERT(unsigned);
        break;
    case 'c':
        CONVERT(int);
        break;
    case 's':
        CONVERT(const char *);
        break;
    case 'p':
        CONVERT(void *);
        break;
    case 'f':
    case 'F':
    case 'e':
    case 'E':
    case 'g':
    case 'G':
    case 'a':
    case 'A':
        if (L)
            CONVERT(long double);
        else
            CONVERT(double);
        break;
    default:
        return NULL; /* %n and unknown conversions: never in this program's messages */
    }
    return buf;
}
#pragma GCC diagnostic pop

void cli_vprint_msg(FILE *out, const char *fmt, va_list ap_in)
{
    va_list ap;
    va_copy(ap, ap_in);
    for (const char *f = fmt; *f;) {
        if (*f != '%') {
            /* The format's own text is the program's: newlines in it are meant. */
            const char *pct = strchr(f, '%');
            size_t n = pct ? (size_t)(pct - f) : strlen(f);
            fwrite(f, 1, n, out);
            f += n;
            continue;
        }
        if (f[1] == '%') {
            fputc('%', out);
            f += 2;
            continue;
        }
        /* %[flags][width][.precision][length]conv, with each * replaced by its value. */
        char spec[64], len[3] = "";
        size_t s = 0;
        spec[s++] = *f++;
        while (*f && strchr("-+ #0'", *f) && s < 16)
            spec[s++] = *f++;
        for (int part = 0; part < 2; part++) {
            if (part == 1) {
                if (*f != '.')
                    break;
                spec[s++] = *f++;
            }
            if (*f == '*') {
                s += (size_t)snprintf(spec + s, sizeof spec - s, "%d", va_arg(ap, int));
                f++;
            } else {
                while (*f >= '0' && *f <= '9' && s < 40)
                    spec[s++] = *f++;
            }
        }
        size_t nl = 0;
        while (*f && strchr("hljztL", *f) && nl < 2) {
            len[nl++] = *f;
            spec[s++] = *f++;
        }
        len[nl] = 0;
        char conv = *f;
        if (!conv)
            break;
        spec[s++] = *f++;
        spec[s] = 0;
        char *piece = convert_one(spec, conv, len, &ap);
        if (!piece)
            break;
        cli_put_msg(out, piece);
        free(piece);
    }
    va_end(ap);
}

void cli_printf_msg(FILE *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vprint_msg(out, fmt, ap);
    va_end(ap);
}
