/* cli/cmd_verify.c: `evchain verify`: check chains end to end; report each one as intact
 * or the first bad event, so a script can rely on the exit code and a person on the text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <evchain/replay.h>

#include "cli.h"
#include "own_checkpoint.h"
#include "proof_util.h"
#include "verify_links.h"

const char help_verify[] =
    "check that chains are intact\n"
    "usage: evchain verify [--links] [--since CHECKPOINT --vkey VKEY... [--origin ORIGIN]]\n"
    "                      [--] <chain>...\n"
    "  <chain>   a chain directory, or a JSON, JSONL or Theater file (format detected),\n"
    "            or an actor bundle (export --bundle: its digests and chain, not a replay);\n"
    "            '-' reads a file from standard input\n"
    "  --links   the chains are a group of actors (a runtime data directory stands for all\n"
    "            its actors): also check that every message, request, reply, timer and\n"
    "            child notice names an existing event of the right actor, and that\n"
    "            every message a sender's chain says was accepted is delivered or\n"
    "            dropped in its receiver's chain (docs/ABI.md sections 2 and 3)\n"
    "  --since CHECKPOINT  also check that each chain extends this signed checkpoint (not\n"
    "            truncated below it, not rewritten before it): RFC 9162 consistency.\n"
    "            The verdict names the checkpoint's origin (the chain it is about). A\n"
    "            chain shorter than the checkpoint is reported truncated, and the events\n"
    "            it has left as not checked: the signed root covers the missing ones too.\n"
    "            Use a copy kept outside the chain directory: whoever can cut the chain\n"
    "            back can roll back its <chain>/checkpoints/ too (which plain verify\n"
    "            checks the chain against, below)\n"
    "  --vkey VKEY  a trusted verifier key (`name+id+key`) or a file of them; repeatable\n"
    "  (CHECKPOINT, a VKEY file or one <chain> may be '-', standard input: one of them)\n"
    "  --origin ORIGIN  with --since: refuse (exit 1) a checkpoint whose origin is not\n"
    "            ORIGIN, so that one of another chain signed by the same key is not taken\n"
    "            for this one's (the runtime signs actor X's as `<key name>/X`)\n"
    "\n"
    "Every event is checked: its hash, its link to the previous event, its seq and the\n"
    "algorithm. Prints `<chain>: ok, N events, head <hash>` for an intact chain and\n"
    "`<chain>: event <seq>: <reason>` for the first bad event of a broken one.\n"
    "A chain directory that keeps checkpoints (`evchain checkpoint`, an actor runtime's) is\n"
    "also checked against its own stored checkpoint, <chain>/checkpoints/latest, as --since\n"
    "checks: a chain cut back below it (a lost segment tail, an older backup restored) is\n"
    "reported `<chain>: its own stored checkpoint <file>: truncated: ...`, one rewritten\n"
    "before it `...: forked: ...`, a latest that does not parse `... is damaged (...)`:\n"
    "broken, exit 1 (one that cannot be read, or is not a regular file: exit 2). A chain\n"
    "that extends it gets a second line, `<chain>: extends its own stored checkpoint ...`.\n"
    "latest is a second name of the newest numbered checkpoint there (<size>.checkpoint):\n"
    "with latest missing, the chain is checked against the newest numbered one that parses\n"
    "instead (`note: ... latest is missing`); a latest that is not the newest numbered one\n"
    "(of another size: a crash between storing one and linking latest, or a roll-back by\n"
    "hand) is said in a note and the chain checked against both; the two of one size with\n"
    "different roots, or a newer numbered one that does not parse, are broken (exit 1).\n"
    "A chain restored on purpose from an older copy, shorter than its checkpoints, is\n"
    "reported truncated, with the way out: `evchain checkpoint <chain> --set-aside` moves\n"
    "them to <chain>/checkpoints.superseded-N (kept); such folders are not checked\n"
    "against, and a note names them.\n"
    "Its signature is not checked (no key is given, and a key file beside it would be as\n"
    "easy to replace), and whoever cuts the chain back can roll that file back too: this\n"
    "catches accidents, not an attacker; an audit uses --since with a copy kept outside\n"
    "and --vkey. With --since both checks apply, each with its own verdict.\n"
    "A chain directory whose stored record is damaged or altered (its checksum fails), or\n"
    "zeroed with acknowledged events after it, is broken too (an older chain, directory\n"
    "format 1, cannot tell such zeros from a crash's torn group: the events after them are\n"
    "not counted, and a warning on stderr says so); a path that is not a chain (no EVCHAIN\n"
    "header, wrong magic, unreadable files) is unreadable input.\n"
    "For a bundle, --since checks only its chain against the checkpoint: its module,\n"
    "objects, labels and sandbox files are checked against the bundle's own digests,\n"
    "which nobody signs (the verdict says so; docs/FORMAT.md section 8).\n"
    "With --links, a link to an event that is not there (a delivery naming a send that\n"
    "does not exist, ...) is a broken group: `links: <actor>: event <seq>: ...`, exit 1.\n"
    "A message accepted (message/send with ret 0) that its receiver's chain neither\n"
    "delivers nor records as message/dropped is listed, each one, as\n"
    "`links: unaccounted: <sender> event <seq>: its message to <receiver> ...`, exit 3:\n"
    "the runtime records one or the other unless its process ended with the message\n"
    "queued (kill -9, a crash) or still runs, and that looks the same as a receiver's\n"
    "chain whose tail was cut off after the delivery. A message still queued at a kill\n"
    "is delivered (or recorded as dropped) by `evchain resume` or `recover` of its\n"
    "receiver, which finds it in the data directory's chains (docs/ABI.md section 7).\n"
    "Check the receiver's chain against a signed checkpoint of it you hold (--since): a\n"
    "cut below the checkpoint is reported as truncated (as a cut below its own stored\n"
    "checkpoint is, unless that was rolled back too).\n"
    "exit: 0 all intact, 1 some chain (or, with --links, link) is broken, 2 unreadable\n"
    "      input or usage error, 3 (--links) all intact and linked, but some accepted\n"
    "      message is unaccounted for; 2 outranks 1, which outranks 3\n";

/* Parsed command line. Options other subcommand owners add later (--since CHECKPOINT
 * --vkey KEY for proofs, --links DIR... for actors) get a field here and a branch in
 * parse_args; verify_one receives the whole struct. */
struct verify_args {
    char **paths;
    int npaths;
    const char *since;  /* --since CHECKPOINT, with --vkey keys (cli_verify_since) */
    const char *origin; /* --origin ORIGIN: the checkpoint's origin must be this one */
    char **vkeys;
    int nvkeys;
    int links; /* --links: the chains are a group of actors; check the links between them */
};

static int parse_args(int argc, char **argv, struct verify_args *a)
{
    a->paths = calloc((size_t)argc, sizeof *a->paths);
    if (!a->paths) {
        cli_error("verify", 0, "out of memory");
        return -1;
    }
    int bad = 0;
    a->vkeys = calloc((size_t)argc, sizeof *a->vkeys);
    if (!a->vkeys) {
        cli_error("verify", 0, "out of memory");
        return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v;
        if ((v = cli_opt(argc, argv, &i, "--since", &bad)) != NULL) {
            if (cli_input("verify", "--since", v) != 0)
                return -1;
            a->since = v;
        } else if ((v = cli_opt_each(argc, argv, &i, "--vkey", &bad)) != NULL) {
            if (cli_input("verify", "--vkey", v) != 0)
                return -1;
            a->vkeys[a->nvkeys++] = (char *)v;
        } else if ((v = cli_opt(argc, argv, &i, "--origin", &bad)) != NULL) {
            a->origin = v;
        } else if (bad) {
            return -1;
        } else if (cli_flag(argv, i, "--links")) {
            a->links = 1;
        } else if (cli_arg_kind(argv, i) == CLI_END) {
            continue;
        } else if (cli_arg_kind(argv, i) == CLI_UNKNOWN) {
            cli_error("verify", 0, "unknown option '%s' (see `evchain help verify`)", s);
            return -1;
        } else {
            if (cli_input("verify", "a chain", s) != 0)
                return -1;
            a->paths[a->npaths++] = argv[i];
        }
    }
    if (!a->nvkeys != !a->since) {
        cli_error("verify", 0, "--since CHECKPOINT and --vkey VKEY go together");
        return -1;
    }
    if (a->origin && !a->since) {
        cli_error("verify", 0, "--origin ORIGIN goes with --since CHECKPOINT");
        return -1;
    }
    if (a->npaths == 0) {
        cli_error("verify", 0, "no chain given\nusage: evchain verify <chain>...");
        return -1;
    }
    /* The checkpoint and the keys are read again for each chain: standard input once. */
    int stdin_each = a->since && strcmp(a->since, "-") == 0;
    for (int k = 0; k < a->nvkeys; k++)
        stdin_each |= strcmp(a->vkeys[k], "-") == 0;
    if (stdin_each && a->npaths > 1) {
        cli_error("verify", 0, "--since or --vkey from standard input ('-'): one chain at a time");
        return -1;
    }
    return 0;
}

/* An actor bundle (docs/FORMAT.md section 8) starts with "EVBUNDL"; the store's readers
 * (ec_chain_open_path) do not know the actor layer's format. */
int cli_is_bundle(const char *path)
{
    struct stat st;
    if (strcmp(path, "-") == 0 || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    FILE *f = fopen(path, "rb");
    char magic[7] = {0};
    int yes = f && fread(magic, 1, sizeof magic, f) == sizeof magic &&
              memcmp(magic, "EVBUNDL", sizeof magic) == 0;
    if (f)
        fclose(f);
    return yes;
}

/* A chain directory of format version 1 whose last segment ends in what reads as a torn group
 * with intact records after a sector of zeros: they are not counted, the next writer cuts
 * them, and the chain cannot tell whether they were acknowledged (docs/FORMAT.md section 4;
 * version 2 reports such zeros as damage). Said on stderr; the verdict stays that of the
 * events read. */
static void torn_group_warning(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return;
    ec_disk_options d = EC_DISK_OPTIONS_INIT;
    ec_disk_cut cut;
    d.read_only = 1;
    d.cut_out = &cut;
    ec_backend *be;
    if (ec_backend_disk(&be, path, &d) != 0) {
        ec_error_clear();
        return;
    }
    be->free(be);
    char note[1024];
    if (cut.unknown && ec_disk_cut_describe(note, sizeof note, &cut) == 2)
        cli_printf_msg(stderr,
                       "evchain verify: warning: %s: not counted; the next writer would %s\n", path,
                       note);
}

/* Returns the exit code for this chain. */
static int verify_one(const char *path, const struct verify_args *a)
{
    ec_verify_result vr;
    memset(&vr, 0, sizeof vr);
    ec_open_options oo = EC_OPEN_OPTIONS_INIT;
    oo.inspect = 1; /* load a damaged file as it is so verification can name the bad seq */
    ec_chain *chain;
    int rc, is_bundle = cli_is_bundle(path);
    /* A chain directory's own stored checkpoints, read before the chain is opened: read
     * after, a live writer's newer one could cover events this open does not see. */
    cli_own own_cp;
    memset(&own_cp, 0, sizeof own_cp);
    if (!is_bundle && cli_is_dir(path) && cli_own_read("verify", path, &own_cp) != EXIT_VALID) {
        cli_own_free(&own_cp);
        return EXIT_UNUSABLE;
    }
    if (is_bundle) {
        /* Its digests and records are checked as it loads: a digest or a record that does
         * not check is a broken chain (exit 1, the reason and where on stdout); a malformed
         * bundle is unreadable input (2), as a malformed JSON file is. */
        if ((rc = ec_bundle_open_chain(&chain, path, NULL, 0)) != 0) {
            if (rc != EC_EVERIFY) {
                cli_error("verify", 1, "cannot read bundle");
                return EXIT_UNUSABLE;
            }
            cli_printf_msg(stdout, "%s\n",
                           ec_error_last() ? ec_error_last()->message : "broken bundle");
            return EXIT_INVALID;
        }
    } else if ((oo.verify_out = &vr, rc = ec_chain_open_path(&chain, path, &oo)) != 0) {
        cli_own_free(&own_cp);
        if (rc == EC_EVERIFY) { /* a chain directory with a damaged record: broken, not unusable */
            printf("%s: event %llu: %s\n", path, (unsigned long long)vr.seq,
                   vr.reason[0] ? vr.reason : ec_verify_status_name(vr.status));
            return EXIT_INVALID;
        }
        cli_error("verify", 1, "cannot read chain");
        return EXIT_UNUSABLE;
    }
    cli_progress pr;
    cli_progress_init(&pr, path);
    ec_verify_options vo = EC_VERIFY_OPTIONS_INIT;
    vo.progress = cli_progress_cb;
    vo.progress_ctx = &pr;
    rc = ec_chain_verify(chain, &vo, &vr);
    cli_progress_done(&pr);
    int code = EXIT_VALID;
    if (rc == 0) {
        uint8_t head[EC_HASH_MAX];
        char hex[2 * EC_HASH_MAX + 1] = "none";
        uint64_t n = ec_chain_count(chain);
        if (n && ec_chain_head(chain, head, NULL) == 0)
            ec_hex_encode(hex, head, ec_hash_len(ec_chain_alg(chain)));
        if (!is_bundle)
            torn_group_warning(path);
        /* A chain directory is also checked against its own stored checkpoint: a chain cut
         * back below it (a lost segment tail, an older backup restored) or rewritten before
         * it is broken, not "ok". It costs a Merkle tree of the event hashes in memory (about
         * three SHA-256 blocks per event, one thread: some 17% more CPU than the verification
         * alone on 100k events); it is no audit (no key, and whoever cuts the chain can roll
         * the file back too), which --since with a copy kept outside is. */
        cli_lines *own_note = calloc(1, sizeof *own_note);
        int own = own_note ? cli_own_verify(path, chain, &own_cp, 0, own_note) : EXIT_UNUSABLE;
        if (!own_note)
            cli_error("verify", 0, "out of memory");
        char ok_line[4400];
        snprintf(ok_line, sizeof ok_line, "%s: ok, %llu event%s, head %s", path,
                 (unsigned long long)n, n == 1 ? "" : "s", hex);
        /* With --since the chain is intact only if it also extends the checkpoint: one
         * verdict, never "ok" followed by "forked"; both checks run, each saying its own. */
        if (a->since) {
            code = cli_verify_since(path, chain, 1, a->since, a->vkeys, a->nvkeys,
                                    own == EXIT_VALID ? ok_line : NULL, own_note, a->origin,
                                    is_bundle);
        } else if (own == EXIT_VALID) {
            cli_printf_msg(stdout, "%s\n", ok_line);
            cli_lines_print(stdout, own_note);
        }
        free(own_note);
        if (own > code)
            code = own;
    } else if (rc == EC_EVERIFY) {
        cli_printf_msg(stdout, "%s: event %llu: %s\n", path, (unsigned long long)vr.seq,
                       vr.reason[0] ? vr.reason : ec_verify_status_name(vr.status));
        code = EXIT_INVALID;
    } else {
        cli_error("verify", 1, "%s: verification could not run", path);
        code = EXIT_UNUSABLE;
    }
    ec_chain_free(chain);
    cli_own_free(&own_cp);
    return code;
}

int cmd_verify(int argc, char **argv)
{
    struct verify_args a = {0};
    if (parse_args(argc, argv, &a) != 0) {
        free(a.paths);
        free(a.vkeys);
        return EXIT_UNUSABLE;
    }
    char **expanded = NULL;
    int nexpanded = 0;
    if (a.links) {
        if (cli_links_expand(a.paths, a.npaths, &expanded, &nexpanded) != 0) {
            free(a.paths);
            free(a.vkeys);
            return EXIT_UNUSABLE;
        }
        free(a.paths);
        a.paths = expanded;
        a.npaths = nexpanded;
    }
    int worst = EXIT_VALID;
    for (int k = 0; k < a.npaths; k++) {
        int code = verify_one(a.paths[k], &a);
        if (code > worst)
            worst = code; /* unusable (2) outranks broken (1) outranks intact (0) */
        fflush(stdout);
    }
    free(a.vkeys);
    if (a.links && worst == EXIT_VALID)
        worst = cli_links_check(a.paths, a.npaths);
    if (a.links)
        cli_links_free(a.paths, a.npaths);
    else
        free(a.paths);
    return worst;
}
