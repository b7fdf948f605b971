/* cli/event_print.c: how the command shows one event in full (show, diff, replay reports):
 * every field, and the data as JSON, text or a hex dump, whichever reads best. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

void cli_format_time(char *buf, size_t n, uint64_t ns)
{
    time_t secs = (time_t)(ns / 1000000000u);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%09uZ", day, (unsigned)(ns % 1000000000u));
}

void cli_put_clean(FILE *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            fprintf(out, c == '\\' ? "\\\\" : "\\x%02x", c);
        else
            fputc(c, out);
    }
}

int cli_events_equal(const ec_event *a, const ec_event *b)
{
    return a->alg == b->alg && a->hash_len == b->hash_len &&
           memcmp(a->hash, b->hash, a->hash_len) == 0 && a->seq == b->seq &&
           a->timestamp == b->timestamp && a->type_len == b->type_len &&
           memcmp(a->type, b->type, a->type_len) == 0 && a->data_len == b->data_len &&
           (a->data_len == 0 || memcmp(a->data, b->data, a->data_len) == 0) &&
           (a->description == NULL) == (b->description == NULL) &&
           a->description_len == b->description_len &&
           (!a->description || memcmp(a->description, b->description, a->description_len) == 0);
}

/* Text that a terminal shows as it is: valid UTF-8 without control characters other than
 * newline and tab. */
static int is_text(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 && p[i] != '\n' && p[i] != '\t' && p[i] != '\r')
            return 0;
    return cli_utf8_valid(p, n);
}

int cli_utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], need;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0 && c >= 0xc2)
            need = 1;
        else if ((c & 0xf0) == 0xe0)
            need = 2;
        else if ((c & 0xf8) == 0xf0 && c <= 0xf4)
            need = 3;
        else
            return 0;
        if (n - i <= need)
            return 0;
        for (unsigned k = 1; k <= need; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
        i += need + 1;
    }
    return 1;
}

static void hexdump(FILE *out, const uint8_t *p, size_t n, const char *indent)
{
    for (size_t off = 0; off < n; off += 16) {
        fprintf(out, "%s  %08zx ", indent, off);
        for (size_t k = 0; k < 16; k++) {
            if (off + k < n)
                fprintf(out, " %02x", p[off + k]);
            else
                fputs("   ", out);
        }
        fputs("  |", out);
        for (size_t k = 0; k < 16 && off + k < n; k++)
            fputc(isprint(p[off + k]) ? p[off + k] : '.', out);
        fputs("|\n", out);
    }
}

void cli_print_event(FILE *out, const ec_event *ev, const char *indent)
{
    char hex[2 * EC_HASH_MAX + 1], when[48];
    ec_hex_encode(hex, ev->hash, ev->hash_len);
    fprintf(out, "%sseq:         %llu\n", indent, (unsigned long long)ev->seq);
    fprintf(out, "%shash:        %s (%s)\n", indent, hex, ec_hash_name(ev->alg));
    if (ev->parent_hash) {
        ec_hex_encode(hex, ev->parent_hash, ev->hash_len);
        fprintf(out, "%sparent:      %s\n", indent, hex);
    } else {
        fprintf(out, "%sparent:      (none)\n", indent);
    }
    cli_format_time(when, sizeof when, ev->timestamp);
    fprintf(out, "%stimestamp:   %llu (%s)\n", indent, (unsigned long long)ev->timestamp, when);
    fprintf(out, "%stype:        ", indent);
    cli_put_clean(out, ev->type, ev->type_len);
    fprintf(out, "\n%sdescription: ", indent);
    if (ev->description)
        cli_put_clean(out, ev->description, ev->description_len);
    else
        fputs("(absent)", out);
    fputc('\n', out);
    fprintf(out, "%sdata:        %zu bytes", indent, ev->data_len);
    char *json = NULL;
    if (cli_payload_json(ev, &json) == 0 && json) {
        fprintf(out, ", decoded:\n%s  %s\n", indent, json);
        free(json);
    } else if (ev->data_len && is_text(ev->data, ev->data_len)) {
        fprintf(out, ", text:\n%s  %.*s\n", indent, (int)ev->data_len, (const char *)ev->data);
    } else if (ev->data_len) {
        fputs(", hex:\n", out);
        hexdump(out, ev->data, ev->data_len, indent);
    } else {
        fputc('\n', out);
    }
}
