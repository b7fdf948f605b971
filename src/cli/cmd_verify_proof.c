/* cli/cmd_verify_proof.c: `evchain verify-proof`: check an offline proof (C2SP tlog-proof)
 * without the chain: the checkpoint's signature by a trusted key, then the event's inclusion
 * in the signed tree. */
#include <stdlib.h>
#include <string.h>

#include "proof_util.h"

const char help_verify_proof[] =
    "check an offline inclusion proof\n"
    "usage: evchain verify-proof FILE [--event EVENT | --hash HEX] --vkey VKEY...\n"
    "                            [--origin ORIGIN]\n"
    "  FILE           a proof written by `evchain prove` (C2SP tlog-proof)\n"
    "  FILE, EVENT or a VKEY file may be '-': standard input (for one of them)\n"
    "  --event EVENT  the event: a binary record (docs/FORMAT.md section 1), or a chain\n"
    "                 file (JSON, JSONL, Theater) holding it at the proof's index\n"
    "  --hash HEX     the event's hash, in hex\n"
    "  --vkey VKEY    a trusted verifier key (`name+id+key`), or a file of them; repeatable\n"
    "  --origin ORIGIN  the chain the proof must be about: a checkpoint with another origin\n"
    "                 is refused (exit 1). A key may sign several chains (the runtime signs\n"
    "                 actor X's as `<key name>/X`): without --origin, read the origin the\n"
    "                 verdict names\n"
    "\n"
    "Without --event or --hash the event record carried in the proof is checked (its hash\n"
    "recomputed), so the proof alone shows what the event says.\n"
    "exit: 0 valid, 1 invalid (not signed by a trusted key, not in the tree, altered),\n"
    "      2 unusable input\n";

#define RECORD_TAG "evchain\x01"

/* The hash of a binary record after recomputing it; prints and returns an exit code. */
static int record_hash(const char *what, const uint8_t *rec, size_t len, uint64_t index,
                       uint8_t *hash, size_t *hl, ec_event *ev)
{
    if (ec_record_decode(ev, rec, len) != 0) {
        cli_error("verify-proof", 1, "%s: not a readable event record", what);
        return EXIT_UNUSABLE;
    }
    if (ec_record_check(rec, len) != 0) {
        printf("invalid: %s: the event's hash does not match its content (altered)\n", what);
        return EXIT_INVALID;
    }
    if (ev->seq != index) {
        printf("invalid: %s is event %llu, the proof is for index %llu\n", what,
               (unsigned long long)ev->seq, (unsigned long long)index);
        return EXIT_INVALID;
    }
    memcpy(hash, ev->hash, ev->hash_len);
    *hl = ev->hash_len;
    return EXIT_VALID;
}

/* --event -: a chain file read from standard input into buf (the same size limit as a
 * named file's), loaded from memory as ec_chain_open_path loads a file: verified while read.
 * The file names its hash algorithm and a chain's is fixed when it opens: each in turn, as
 * `evchain import` does (a mismatch is refused before any event is stored). */
static int open_chain_buffer(ec_chain **out, char *buf, size_t len)
{
    static const ec_hash_alg algs[] = {EC_HASH_SHA256, EC_HASH_SHA1, EC_HASH_THEATER_SHA1};
    int rc = EC_EINVAL;
    *out = NULL;
    for (size_t k = 0; len && k < sizeof algs / sizeof algs[0]; k++) {
        ec_memory_options mo = EC_MEMORY_OPTIONS_INIT;
        ec_chain_options co = EC_CHAIN_OPTIONS_INIT;
        ec_backend *be;
        ec_chain *c;
        co.alg = algs[k];
        if ((rc = ec_backend_memory(&be, &mo)) != 0 || (rc = ec_chain_open(&c, be, &co)) != 0)
            return rc; /* ec_chain_open owns be, also on failure */
        FILE *f = fmemopen(buf, len, "rb");
        if (!f) {
            ec_chain_free(c);
            return EC_ENOMEM;
        }
        rc = ec_import_stream(c, f, "(stdin)", EC_FORMAT_AUTO, 0, NULL);
        fclose(f);
        if (rc == 0) {
            *out = c;
            return 0;
        }
        uint64_t n = ec_chain_count(c);
        ec_chain_free(c);
        if (rc != EC_EINVAL || n != 0)
            return rc;
    }
    return rc;
}

int cmd_verify_proof(int argc, char **argv)
{
    const char *file = NULL, *event = NULL, *hex = NULL, *origin = NULL, *v;
    char **vkeys = calloc((size_t)argc, sizeof *vkeys);
    int nv = 0, bad = 0;
    if (!vkeys) {
        cli_error("verify-proof", 0, "out of memory");
        return EXIT_UNUSABLE;
    }
    for (int i = 1; i < argc && !bad; i++) {
        if ((v = cli_opt(argc, argv, &i, "--event", &bad)) != NULL)
            bad = cli_input("verify-proof", "--event", event = v) != 0;
        else if ((v = cli_opt(argc, argv, &i, "--hash", &bad)) != NULL)
            hex = v;
        else if ((v = cli_opt_each(argc, argv, &i, "--vkey", &bad)) != NULL)
            bad = cli_input("verify-proof", "--vkey", vkeys[nv++] = (char *)v) != 0;
        else if ((v = cli_opt(argc, argv, &i, "--origin", &bad)) != NULL)
            origin = v;
        else if (bad)
            break;
        else if (cli_arg_kind(argv, i) == CLI_END) {
            /* "--": the operands follow */
        } else if (cli_arg_kind(argv, i) == CLI_UNKNOWN) {
            cli_error("verify-proof", 0, "unknown option '%s' (see `evchain help verify-proof`)",
                      argv[i]);
            bad = 1;
        } else if (!file)
            bad = cli_input("verify-proof", "the proof", file = argv[i]) != 0;
        else {
            cli_error("verify-proof", 0, "unexpected argument '%s'", argv[i]);
            bad = 1;
        }
    }
    if (!bad && (!file || (event && hex))) {
        cli_error("verify-proof", 0,
                  "usage: evchain verify-proof FILE [--event EVENT | --hash HEX] --vkey VKEY");
        bad = 1;
    }
    ec_vkey **keys = NULL;
    size_t nk = 0;
    if (bad || cli_load_vkeys("verify-proof", vkeys, nv, &keys, &nk) != 0) {
        free(vkeys);
        return EXIT_UNUSABLE;
    }
    free(vkeys);
    int code = EXIT_UNUSABLE;
    size_t len;
    char *text = cli_read_file("verify-proof", "proof", file, EC_NOTE_MAX_LEN + (96u << 20), &len);
    ec_tlog_proof *p = NULL;
    uint8_t hash[EC_HASH_MAX];
    size_t hl = 0;
    ec_event ev;
    int have_event = 0;
    char *evbuf = NULL;
    ec_chain *evchain = NULL;
    if (!text)
        goto done;
    if (ec_tlog_proof_parse(&p, text, len) != 0) {
        cli_error("verify-proof", 1, "%s", file);
        goto done;
    }
    if (hex) {
        size_t n = strlen(hex);
        if ((n != 64 && n != 40) || ec_hex_decode(hash, n / 2, hex, n) != 0) {
            cli_error("verify-proof", 0,
                      "--hash: expected 64 (SHA-256) or 40 (SHA-1) hex "
                      "digits");
            goto done;
        }
        hl = n / 2;
    } else if (event) {
        size_t el;
        evbuf = cli_read_file("verify-proof", "event", event, (size_t)1 << 30, &el);
        if (!evbuf)
            goto done;
        if (el >= 8 && memcmp(evbuf, RECORD_TAG, 8) == 0) {
            code = record_hash(event, (const uint8_t *)evbuf, el, p->index, hash, &hl, &ev);
            if (code != EXIT_VALID)
                goto done;
            have_event = 1;
        } else {
            ec_open_options oo = EC_OPEN_OPTIONS_INIT;
            /* standard input was read into evbuf: not to be read again */
            int orc = strcmp(event, "-") == 0 ? open_chain_buffer(&evchain, evbuf, el)
                                              : ec_chain_open_path(&evchain, event, &oo);
            if (orc == EC_EVERIFY) {
                /* A chain file that does not verify: what it says is not to be trusted. */
                printf("invalid: --event %s: the chain file is broken: %s\n", event,
                       ec_error_last() ? ec_error_last()->message : "it does not verify");
                code = EXIT_INVALID;
                goto done;
            }
            if (orc != 0) {
                cli_error("verify-proof", 1,
                          "--event %s: neither an event record nor a "
                          "readable chain file",
                          event);
                code = EXIT_UNUSABLE;
                goto done;
            }
            if (ec_chain_get(evchain, p->index, &ev) != 0) {
                cli_error("verify-proof", 0, "--event %s: has no event %llu", event,
                          (unsigned long long)p->index);
                code = EXIT_UNUSABLE;
                goto done;
            }
            memcpy(hash, ev.hash, ev.hash_len);
            hl = ev.hash_len;
            have_event = 1;
        }
    } else if (p->extra) {
        code = record_hash("the proof's event", p->extra, p->extra_len, p->index, hash, &hl, &ev);
        if (code != EXIT_VALID)
            goto done;
        have_event = 1;
    } else {
        cli_error("verify-proof", 0, "%s carries no event: give --event EVENT or --hash HEX", file);
        goto done;
    }
    char who[4200];
    snprintf(who, sizeof who, "invalid: %s", file);
    if (cli_origin_mismatch(who, p->checkpoint, p->checkpoint_len, keys, nk, origin)) {
        code = EXIT_INVALID;
        goto done;
    }
    ec_checkpoint cp;
    int rc = ec_tlog_proof_verify(p, hash, hl, keys, nk, &cp);
    char hx[2 * EC_HASH_MAX + 1];
    ec_hex_encode(hx, hash, hl);
    if (rc == 0) {
        cli_printf_msg(stdout,
                       "valid: event %llu (hash %s) is in the tree of %llu events of %s, signed "
                       "by %s\n",
                       (unsigned long long)p->index, hx, (unsigned long long)cp.size, cp.origin,
                       cp.signer);
        if (have_event)
            cli_print_event(stdout, &ev, "  ");
        code = EXIT_VALID;
    } else if (rc == EC_EVERIFY) {
        cli_printf_msg(stdout, "invalid: %s: %s\n", file,
                       ec_error_last() ? ec_error_last()->message : "");
        code = EXIT_INVALID;
    } else {
        cli_error("verify-proof", 1, "%s", file);
        code = EXIT_UNUSABLE;
    }
done:
    ec_chain_free(evchain);
    free(evbuf);
    ec_tlog_proof_free(p);
    free(text);
    cli_free_vkeys(keys, nk);
    return code;
}
