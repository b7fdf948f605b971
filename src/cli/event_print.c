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

/* Every field a record holds (docs/FORMAT.md section 1), the stored hash and parent hash
 * included: a record whose parent was tampered with still carries its old, self-consistent
 * hash, so comparing hashes alone would call it equal. */
int cli_events_equal(const ec_event *a, const ec_event *b)
{
    return a->alg == b->alg && a->hash_len == b->hash_len &&
           memcmp(a->hash, b->hash, a->hash_len) == 0 && a->seq == b->seq &&
           (a->parent_hash == NULL) == (b->parent_hash == NULL) &&
           (!a->parent_hash || memcmp(a->parent_hash, b->parent_hash, a->hash_len) == 0) &&
           a->timestamp == b->timestamp && a->type_len == b->type_len &&
           memcmp(a->type, b->type, a->type_len) == 0 && a->data_len == b->data_len &&
           (a->data_len == 0 || memcmp(a->data, b->data, a->data_len) == 0) &&
           (a->description == NULL) == (b->description == NULL) &&
           a->description_len == b->description_len &&
           (!a->description || memcmp(a->description, b->description, a->description_len) == 0);
}

/* Text that a terminal shows as it is: valid UTF-8 whose only control characters are
 * newline and tab (no CR, which would move back over the indent; no DEL, C1 or bidirectional
 * control: cli_cp_unsafe). */
static int is_text(const uint8_t *p, size_t n)
{
    uint32_t cp;
    for (size_t i = 0, k; i < n; i += k) {
        if ((k = cli_utf8_next(p + i, n - i, &cp)) == 0)
            return 0;
        if (cli_cp_unsafe(cp) && cp != '\n' && cp != '\t')
            return 0;
    }
    return 1;
}

/* Text data, each of its lines (the ones after a newline too, an empty last one included)
 * starting with indent and two spaces, so that a line of the data can never pass for a
 * field line of this event or of the next one (those start with indent and a letter). */
static void put_text_lines(FILE *out, const uint8_t *p, size_t n, const char *indent)
{
    for (size_t i = 0;;) {
        const uint8_t *nl = memchr(p + i, '\n', n - i);
        size_t len = nl ? (size_t)(nl - (p + i)) : n - i;
        fprintf(out, "%s  %.*s\n", indent, (int)len, (const char *)p + i);
        if (!nl)
            break;
        i += len + 1;
    }
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
        fprintf(out, ", decoded:\n%s  ", indent);
        cli_put_json_clean(out, json, strlen(json)); /* one line: its \n are escaped */
        fputc('\n', out);
        free(json);
    } else if (ev->data_len && is_text(ev->data, ev->data_len)) {
        fputs(", text:\n", out);
        put_text_lines(out, ev->data, ev->data_len, indent);
    } else if (ev->data_len) {
        fputs(", hex:\n", out);
        hexdump(out, ev->data, ev->data_len, indent);
    } else {
        fputc('\n', out);
    }
}
