/* cli/cmd_log.c: `evchain log`: one line per event (or one JSON object per line), filtered
 * by type glob and seq range: the quick look at what a chain recorded. */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "follow.h"

const char help_log[] =
    "list the events of a chain, one per line\n"
    "usage: evchain log <chain> [--type GLOB] [--from SEQ] [--to SEQ] [--json] [-f]\n"
    "  --type GLOB   only events whose type matches GLOB (fnmatch: * ? [..])\n"
    "  --from SEQ    start at SEQ (default 0)\n"
    "  --to SEQ      stop after SEQ (inclusive; default the head)\n"
    "  --json        one JSON event object per line (the JSONL event form)\n"
    "  -f, --follow  a chain directory: keep listing events as another process appends\n"
    "                them (as tail -f), each verified as it arrives; stops after --to,\n"
    "                or with exit 1 when the chain is rewritten under it (its last\n"
    "                segment cut shorter or replaced, the directory created again) or a\n"
    "                damaged record is met (`<chain>: event <seq>: <reason>`)\n"
    "Line format: seq, the first 12 hex digits of the hash, the time (ISO-8601 UTC with\n"
    "nanoseconds), the type and the description if any. Control characters (C0, DEL, C1),\n"
    "bidirectional controls, U+2028/U+2029 and bytes that are not UTF-8 are shown as \\xNN\n"
    "per byte, a backslash as \\\\; with --json such characters are \\uXXXX in the strings.\n"
    "The events are verified as they are read (from the one before --from): a file with\n"
    "a broken event is refused before anything is listed; a directory is listed up to the\n"
    "broken event (a damaged record too, in any segment), then `<chain>: event <seq>:\n"
    "<reason>` on stderr.\n"
    "exit: 0 listed, 1 the chain is broken, 2 unreadable input or usage error\n";

/* What one listed event needs; shared by the listing and follow mode (follow.c). */
struct log_ctx {
    const char *glob;
    int json;
    char *type;
};

/* The JSONL event form, plus "payload": the decoded data when the event type has a
 * specified payload (actor events), for jq. An importer ignores "payload". */
static int print_json(const ec_event *ev)
{
    char *payload = NULL, *obj = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&obj, &len);
    int rc = m ? ec_event_write_json(m, ev) : EC_ENOMEM;
    if (m)
        fclose(m);
    if (rc == 0 && cli_payload_json(ev, &payload) == 0 && payload) {
        if (len > 0 && obj[len - 1] == '}') {
            cli_put_json_clean(stdout, obj, len - 1);
            fputs(",\"payload\":", stdout);
            cli_put_json_clean(stdout, payload, strlen(payload));
            putchar('}');
        } else {
            rc = EC_ERROR;
        }
    } else if (rc == 0) {
        /* C1 and bidirectional controls inside strings as \uXXXX: the same JSON, but a
         * terminal shows it instead of obeying it. */
        cli_put_json_clean(stdout, obj, len);
    }
    if (rc == 0)
        putchar('\n');
    free(obj);
    free(payload);
    return rc;
}

static int print_event(const ec_event *ev, void *arg)
{
    struct log_ctx *x = arg;
    if (x->glob) {
        memcpy(x->type, ev->type, ev->type_len);
        x->type[ev->type_len] = 0;
        if (fnmatch(x->glob, x->type, 0) != 0)
            return 0;
    }
    if (x->json)
        return print_json(ev);
    char hex[2 * EC_HASH_MAX + 1], when[64];
    ec_hex_encode(hex, ev->hash, ev->hash_len);
    cli_format_time(when, sizeof when, ev->timestamp);
    printf("%llu %.12s %s ", (unsigned long long)ev->seq, hex, when);
    cli_put_clean(stdout, ev->type, ev->type_len);
    if (ev->description) {
        putchar(' ');
        cli_put_clean(stdout, ev->description, ev->description_len);
    }
    putchar('\n');
    return 0;
}

int cmd_log(int argc, char **argv)
{
    const char *path = NULL, *glob = NULL, *v;
    uint64_t from = 0, to = UINT64_MAX;
    int json = 0, bad = 0, follow = 0;
    for (int i = 1; i < argc; i++) {
        if ((v = cli_opt(argc, argv, &i, "--type", &bad))) {
            glob = v;
        } else if ((v = cli_opt(argc, argv, &i, "--from", &bad))) {
            if (cli_parse_u64(v, &from) != 0) {
                cli_error("log", 0, "--from: '%s' is not a seq (decimal)", v);
                return EXIT_UNUSABLE;
            }
        } else if ((v = cli_opt(argc, argv, &i, "--to", &bad))) {
            if (cli_parse_u64(v, &to) != 0) {
                cli_error("log", 0, "--to: '%s' is not a seq (decimal)", v);
                return EXIT_UNUSABLE;
            }
        } else if (bad) {
            return EXIT_UNUSABLE;
        } else if (cli_flag(argv, i, "--json")) {
            json = 1;
        } else if (cli_flag(argv, i, "-f") || cli_flag(argv, i, "--follow")) {
            follow = 1;
        } else if (cli_arg_kind(argv, i) == CLI_END) {
            /* "--": the operands follow */
        } else if (cli_arg_kind(argv, i) == CLI_UNKNOWN) {
            cli_error("log", 0, "unknown option '%s' (see `evchain help log`)", argv[i]);
            return EXIT_UNUSABLE;
        } else if (!path) {
            path = argv[i];
        } else {
            cli_error("log", 0, "more than one chain given ('%s')", argv[i]);
            return EXIT_UNUSABLE;
        }
    }
    if (!path) {
        cli_error("log", 0, "no chain given\nusage: evchain log <chain> [options]");
        return EXIT_UNUSABLE;
    }
    if (follow) {
        struct log_ctx x = {glob, json, malloc(65536)};
        if (!x.type) {
            cli_error("log", 0, "out of memory");
            return EXIT_UNUSABLE;
        }
        int code = cli_log_follow("log", path, from, to, 0, print_event, &x);
        free(x.type);
        return code;
    }
    ec_chain *chain;
    int rc = ec_chain_open_path(&chain, path, NULL);
    if (rc) {
        cli_error("log", 1, "cannot read chain");
        return cli_exit_code(rc);
    }
    char *type = malloc(65536); /* NUL-terminated copy for fnmatch (types are <= 65535) */
    ec_iter *it = NULL;
    if (!type) {
        cli_error("log", 0, "out of memory");
        rc = EC_ENOMEM;
    } else if (from < ec_chain_count(chain)) {
        /* verified as listed (one pass): a broken event ends the listing with an error */
        if ((rc = ec_iter_new(&it, chain, from)) == 0)
            rc = ec_iter_verify(it, NULL);
    }
    ec_event ev;
    struct log_ctx x = {glob, json, type};
    while (rc == 0 && it && (rc = ec_iter_next(it, &ev)) == 0 && ev.seq <= to)
        rc = print_event(&ev, &x);
    if (rc == EC_ITEROVER || (rc == 0 && it))
        rc = 0;
    ec_iter_free(it);
    free(type);
    ec_chain_free(chain);
    if (rc == EC_EVERIFY) { /* "event <seq>: <reason>", after the events before it */
        fflush(stdout);
        const ec_error *e = ec_error_last();
        cli_error("log", 0, "%s: %s", path, e ? e->message : "broken chain");
        return EXIT_INVALID;
    }
    if (rc) {
        cli_error("log", 1, "%s", path);
        return cli_exit_code(rc);
    }
    return EXIT_VALID;
}
