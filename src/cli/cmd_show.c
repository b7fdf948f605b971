/* cli/cmd_show.c: `evchain show`: one event in full, found by seq or hash prefix; its data
 * as text when it is printable UTF-8 (JSON included), else as a hex dump. */
#include <string.h>
#include <time.h>

#include "cli.h"

const char help_show[] =
    "show one event in full\n"
    "usage: evchain show <chain> <seq|hash-prefix>\n"
    "  <seq>          decimal digits: the event with that seq (when the chain has it;\n"
    "                 otherwise the digits are tried as a hash prefix)\n"
    "  <hash-prefix>  hex digits: the one event whose hash starts with them\n"
    "Data is printed as text when it is valid, printable UTF-8 (such as JSON), else as a\n"
    "hex dump (offset, 16 bytes, ASCII).\n"
    "exit: 0 shown, 1 the chain is broken, 2 no such event, unreadable input or usage error\n";

/* Printable UTF-8: valid sequences (no overlongs or surrogates), no control characters
 * other than tab, newline and carriage return. */
static int printable_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\n' && c != '\t' && c != '\r') || c == 0x7f)
                return 0;
            i++;
            continue;
        }
        size_t len = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || i + len > n)
            return 0;
        uint32_t cp = len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
            (cp >= 0x80 && cp < 0xa0))
            return 0;
        i += len;
    }
    return 1;
}

static void put_clean(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            printf(c == '\\' ? "\\\\" : "\\x%02x", c);
        else
            putchar(c);
    }
}

static void hex_dump(const uint8_t *d, size_t n)
{
    for (size_t off = 0; off < n; off += 16) {
        printf("  %08zx ", off);
        for (size_t k = 0; k < 16; k++) {
            if (off + k < n)
                printf(" %02x", d[off + k]);
            else
                fputs("   ", stdout);
        }
        fputs("  |", stdout);
        for (size_t k = 0; k < 16 && off + k < n; k++)
            putchar(d[off + k] >= 0x20 && d[off + k] < 0x7f ? d[off + k] : '.');
        puts("|");
    }
}

static int all_digits(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

int cmd_show(int argc, char **argv)
{
    if (argc != 3) {
        cli_error("show", 0,
                  "need a chain and an event\nusage: evchain show <chain> "
                  "<seq|hash-prefix>");
        return EXIT_UNUSABLE;
    }
    const char *path = argv[1], *which = argv[2];
    ec_chain *chain;
    int rc = ec_chain_open_path(&chain, path, NULL);
    if (rc) {
        cli_error("show", 1, "cannot read chain");
        return cli_exit_code(rc);
    }
    uint64_t seq;
    if (!(all_digits(which) && cli_parse_u64(which, &seq) == 0 && seq < ec_chain_count(chain)))
        rc = ec_chain_find_prefix(chain, which, &seq);
    ec_event ev;
    if (rc == 0)
        rc = ec_chain_get(chain, seq, &ev);
    if (rc) {
        cli_error("show", 1, "%s: no event '%s'", path, which);
        ec_chain_free(chain);
        return EXIT_UNUSABLE;
    }
    char hex[2 * EC_HASH_MAX + 1], when[64];
    ec_hex_encode(hex, ev.hash, ev.hash_len);
    printf("seq          %llu\nhash         %s\n", (unsigned long long)ev.seq, hex);
    if (ev.parent_hash)
        ec_hex_encode(hex, ev.parent_hash, ev.hash_len);
    printf("parent_hash  %s\n", ev.parent_hash ? hex : "none (first event)");
    printf("algorithm    %s\n", ec_hash_name(ev.alg) ? ec_hash_name(ev.alg) : "?");
    time_t secs = (time_t)(ev.timestamp / 1000000000u);
    struct tm tm;
    if (gmtime_r(&secs, &tm)) {
        size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(when + n, sizeof when - n, ".%09lluZ",
                 (unsigned long long)(ev.timestamp % 1000000000u));
    } else {
        snprintf(when, sizeof when, "(out of range)");
    }
    printf("timestamp    %llu (%s)\nevent_type   ", (unsigned long long)ev.timestamp, when);
    put_clean(ev.type, ev.type_len);
    fputs("\ndescription  ", stdout);
    if (ev.description)
        put_clean(ev.description, ev.description_len);
    else
        fputs("(none)", stdout);
    if (ev.data_len == 0) {
        puts("\ndata         0 bytes");
    } else if (printable_utf8(ev.data, ev.data_len)) {
        printf("\ndata         %zu bytes, text:\n", ev.data_len);
        fwrite(ev.data, 1, ev.data_len, stdout);
        if (ev.data[ev.data_len - 1] != '\n')
            putchar('\n');
    } else {
        printf("\ndata         %zu bytes, binary:\n", ev.data_len);
        hex_dump(ev.data, ev.data_len);
    }
    ec_chain_free(chain);
    return EXIT_VALID;
}
