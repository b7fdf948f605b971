/* cli/cmd_replay.c: `evchain replay`: run an actor again from its chain, every host call
 * answered from the chain, and report the first divergence (text or --json). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <evchain/replay.h>

#include "cli.h"
#include "replay_cli.h"

const char help_replay[] =
    "run an actor again from its chain and check it reproduces the chain\n"
    "\n"
    "usage: evchain replay <chain-dir> [--module FILE] [--until SEQ] [--json] [--cache DIR]\n"
    "                      [--any-module] [--from-snapshot [--store DIR]]\n"
    "                      [--memory-out FILE]\n"
    "\n"
    "The actor's module (named by its SHA-256 in event 0) is taken from the runtime's cache\n"
    "(<data>/cache next to <data>/actors/<id>/chain, or --cache) or given with --module; a\n"
    "module with another hash is refused unless --any-module (to see where a changed module\n"
    "behaves differently on the recorded inputs). Every host call is answered from the chain\n"
    "and has no effect: no file, message, clock or randomness. Every event the actor makes\n"
    "must equal the recorded one byte for byte; the first that does not stops the replay\n"
    "with a report: the seq, the recorded and the replayed event decoded, the events before.\n"
    "  --until SEQ   reproduce events 0..SEQ only\n"
    "  --from-snapshot  start from the newest state/snapshot (its object read from\n"
    "                <data>/store, or --store DIR, and checked against its recorded hash)\n"
    "  --memory-out FILE  write the actor's linear memory where the replay stopped (at\n"
    "                --until SEQ, even inside a call; at a divergence; at the end) to FILE:\n"
    "                byte k is wasm address k. The state before a trap: --until the seq\n"
    "                before the wasm/trap event (the memory as the trap left it)\n"
    "  --json        the report as one JSON object\n"
    "Exit 0 when the chain is reproduced (a recorded trap included), 1 on a divergence, 2 on\n"
    "unusable input.\n";

static void json_str(FILE *f, const char *s, size_t n)
{
    fputc('"', f);
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* A payload as JSON: decoded when it is an actor payload, else hex in a string. */
static void json_payload(FILE *f, const char *type, const uint8_t *data, size_t len)
{
    char *js = NULL;
    if (type && ec_payload_to_json(type, data, len, &js) == 0) {
        fputs(js, f);
        free(js);
        return;
    }
    fputc('"', f);
    for (size_t k = 0; k < len; k++)
        fprintf(f, "%02x", data[k]);
    fputc('"', f);
}

static void json_event(FILE *f, const char *type, const uint8_t *data, size_t len, int has)
{
    fputs("{\"type\": ", f);
    json_str(f, type, strlen(type));
    fputs(", \"data\": ", f);
    if (has)
        json_payload(f, type, data, len);
    else
        fputs("null", f);
    fputc('}', f);
}

static void text_event(FILE *f, const char *label, const char *type, const uint8_t *data,
                       size_t len, int has)
{
    fprintf(f, "  %-10s %s ", label, type);
    if (has)
        json_payload(f, type, data, len);
    fputc('\n', f);
}

#define CONTEXT 4

/* --memory-out: where the memory went, or why it did not. */
static void memory_text(const ec_replay_options *ro, const ec_replay_report *r)
{
    if (!ro->memory_out)
        return;
    if (r->memory_written)
        printf("memory where the replay stopped (after seq %llu): %llu bytes written to %s\n",
               (unsigned long long)(r->memory_at - 1), (unsigned long long)r->memory_len,
               ro->memory_out);
    else
        printf("memory: not written: %s\n", r->memory_why);
}

static void memory_json(const ec_replay_options *ro, const ec_replay_report *r)
{
    if (!ro->memory_out)
        return;
    printf(", \"memory\": {\"file\": ");
    json_str(stdout, ro->memory_out, strlen(ro->memory_out));
    if (r->memory_written)
        printf(", \"after_seq\": %llu, \"bytes\": %llu}", (unsigned long long)(r->memory_at - 1),
               (unsigned long long)r->memory_len);
    else {
        printf(", \"error\": ");
        json_str(stdout, r->memory_why, strlen(r->memory_why));
        printf("}");
    }
}

int cmd_replay(int argc, char **argv)
{
    const char *path = NULL, *module = NULL, *cache = NULL, *store = NULL;
    int json = 0, bad = 0;
    ec_replay_options ro = EC_REPLAY_OPTIONS_INIT;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if ((v = cli_opt(argc, argv, &i, "--module", &bad)))
            module = v;
        else if ((v = cli_opt(argc, argv, &i, "--cache", &bad)))
            cache = v;
        else if ((v = cli_opt(argc, argv, &i, "--store", &bad)))
            store = v;
        else if ((v = cli_opt(argc, argv, &i, "--memory-out", &bad)))
            ro.memory_out = v;
        else if ((v = cli_opt(argc, argv, &i, "--until", &bad))) {
            if (cli_parse_u64(v, &ro.until)) {
                cli_error("replay", 0, "--until %s: not a seq", v);
                return EXIT_UNUSABLE;
            }
        } else if (bad)
            return EXIT_UNUSABLE;
        else if (cli_flag(argv, i, "--json"))
            json = 1;
        else if (cli_flag(argv, i, "--any-module"))
            ro.any_module = 1;
        else if (cli_flag(argv, i, "--from-snapshot"))
            ro.from_snapshot = 1;
        else if (cli_arg_kind(argv, i) == CLI_END) {
            /* "--": the operands follow */
        } else if (cli_arg_kind(argv, i) == CLI_UNKNOWN) {
            cli_error("replay", 0, "unknown option %s (see evchain help replay)", argv[i]);
            return EXIT_UNUSABLE;
        } else if (!path)
            path = argv[i];
        else {
            cli_error("replay", 0, "one chain at a time (%s)", argv[i]);
            return EXIT_UNUSABLE;
        }
    }
    if (!path) {
        cli_error("replay", 0, "usage: evchain replay <chain-dir> [--module FILE] [--until SEQ]");
        return EXIT_UNUSABLE;
    }
    if (ro.any_module && ro.from_snapshot) { /* it diverged at seq 0, saying nothing useful */
        cli_error("replay", 0,
                  "--from-snapshot with --any-module: a snapshot is the recorded module's "
                  "memory, which another module cannot take; replay another module from "
                  "the start");
        return EXIT_UNUSABLE;
    }
    if (store && !ro.from_snapshot) {
        cli_error("replay", 0, "--store is where --from-snapshot finds snapshots: give both");
        return EXIT_UNUSABLE;
    }
    /* The chain's own data directory (<data>/actors/<id>/chain, resolved): its cache holds
     * the module, its store the snapshots (not the cache's, which --cache may put
     * elsewhere). A chain elsewhere needs --module (and --store for --from-snapshot). */
    char data[4096], cbuf[4200], sbuf[4200];
    int have_data = ec_actor_data_dir_of(data, sizeof data, path) == 0;
    if (!have_data && ((!cache && !module) || (!store && ro.from_snapshot))) {
        cli_error("replay", 0, "%s: give --module FILE%s", ec_error_last()->message,
                  ro.from_snapshot ? " and --store DIR" : "");
        return EXIT_UNUSABLE;
    }
    ec_error_clear();
    if (!cache && have_data) {
        snprintf(cbuf, sizeof cbuf, "%s/cache", data);
        cache = cbuf;
    }
    if (!store && have_data) {
        snprintf(sbuf, sizeof sbuf, "%s/store", data);
        store = sbuf;
    }
    ro.module_path = module;
    ro.cache_dir = cache;
    ro.store_dir = store;
    ec_chain *c = NULL;
    ec_open_options oo = EC_OPEN_OPTIONS_INIT;
    int orc = ec_chain_open_path(&c, path, &oo);
    if (orc) {
        cli_error("replay", 1, "%s: cannot open", path);
        return orc == EC_EVERIFY ? EXIT_INVALID : EXIT_UNUSABLE; /* a damaged record: broken */
    }
    if (ro.until != UINT64_MAX && ro.until >= ec_chain_count(c)) { /* as recover --to */
        cli_error("replay", 0, "--until %llu: the chain has %llu events (seqs 0 to %llu)",
                  (unsigned long long)ro.until, (unsigned long long)ec_chain_count(c),
                  (unsigned long long)(ec_chain_count(c) ? ec_chain_count(c) - 1 : 0));
        ec_chain_free(c);
        return EXIT_UNUSABLE;
    }
    ec_replay_report rep;
    int rc = ec_actor_replay(c, NULL, &ro, &rep);
    int ret;
    if (rc && !rep.diverged) {
        cli_error("replay", 1, "cannot replay");
        ret = rc == EC_EVERIFY ? EXIT_INVALID : EXIT_UNUSABLE; /* a damaged record: broken */
    } else if (!rep.diverged) {
        char hex[2 * EC_HASH_MAX + 1];
        ec_hex_encode(hex, rep.head, rep.head_len);
        /* The replayed head against the recorded one at the same seq: the proof the whole
         * chain was reproduced (each event was compared on the way too). */
        int same = rep.events > 0;
        if (same) {
            ec_event e;
            same = ec_chain_get(c, rep.events - 1, &e) == 0 && e.hash_len == rep.head_len &&
                   memcmp(e.hash, rep.head, rep.head_len) == 0;
        }
        int whole = rep.events == ec_chain_count(c);
        if (json) {
            printf("{\"status\": \"%s\", \"events\": %llu, \"head\": \"%s\", \"trap_seq\": ",
                   same ? (whole ? "identical" : "identical-prefix") : "different-head",
                   (unsigned long long)rep.events, hex);
            if (rep.trapped)
                printf("%llu", (unsigned long long)rep.trap_seq);
            else
                printf("null");
            if (rep.snapshot_seq != UINT64_MAX)
                printf(", \"snapshot_seq\": %llu", (unsigned long long)rep.snapshot_seq);
            else
                printf(", \"snapshot_seq\": null");
            memory_json(&ro, &rep);
            printf("}\n");
        } else {
            printf("replay of %s: %s %llu events, head %s\n", path,
                   whole ? "identical:" : "identical up to", (unsigned long long)rep.events, hex);
            if (rep.snapshot_seq != UINT64_MAX)
                printf("started from the snapshot at seq %llu\n",
                       (unsigned long long)rep.snapshot_seq);
            if (rep.trapped)
                printf("the trap at seq %llu is reproduced\n", (unsigned long long)rep.trap_seq);
            if (rep.cut)
                printf("the chain ends inside a call (cut short by a crash, or still being "
                       "written): reproduced up to its end\n");
            memory_text(&ro, &rep);
        }
        ret = same ? EXIT_VALID : EXIT_INVALID;
    } else {
        uint64_t from = rep.seq > CONTEXT ? rep.seq - CONTEXT : 0;
        int has_exp = strcmp(rep.expected_type, "(end of chain)") != 0;
        int has_act = strcmp(rep.actual_type, "(idle)") != 0;
        if (json) {
            printf("{\"status\": \"diverged\", \"seq\": %llu, \"why\": ",
                   (unsigned long long)rep.seq);
            json_str(stdout, rep.why, strlen(rep.why));
            printf(", \"expected\": ");
            json_event(stdout, rep.expected_type, rep.expected_data, rep.expected_len, has_exp);
            printf(", \"actual\": ");
            json_event(stdout, rep.actual_type, rep.actual_data, rep.actual_len, has_act);
            printf(", \"before\": [");
            for (uint64_t s = from; s < rep.seq; s++) {
                ec_event e;
                if (ec_chain_get(c, s, &e))
                    break;
                char *t = strndup(e.type, e.type_len);
                printf("%s{\"seq\": %llu, \"type\": ", s == from ? "" : ", ",
                       (unsigned long long)s);
                json_str(stdout, e.type, e.type_len);
                printf(", \"data\": ");
                json_payload(stdout, t, e.data, e.data_len);
                printf("}");
                free(t);
            }
            printf("]");
            memory_json(&ro, &rep);
            printf("}\n");
        } else {
            printf("replay of %s: diverges at seq %llu\n", path, (unsigned long long)rep.seq);
            printf("  %s\n", rep.why);
            text_event(stdout, "expected", rep.expected_type, rep.expected_data, rep.expected_len,
                       has_exp);
            text_event(stdout, "actual", rep.actual_type, rep.actual_data, rep.actual_len, has_act);
            if (from < rep.seq)
                printf("  before it:\n");
            for (uint64_t s = from; s < rep.seq; s++) {
                ec_event e;
                if (ec_chain_get(c, s, &e))
                    break;
                char *t = strndup(e.type, e.type_len);
                printf("    %llu %s ", (unsigned long long)s, t ? t : "?");
                json_payload(stdout, t, e.data, e.data_len);
                printf("\n");
                free(t);
            }
            memory_text(&ro, &rep);
        }
        ret = EXIT_INVALID;
    }
    if (ret == EXIT_VALID && ro.memory_out && !rep.memory_written)
        ret = EXIT_UNUSABLE; /* asked for, not written: said why above */
    ec_replay_report_free(&rep);
    ec_chain_free(c);
    return ret;
}
