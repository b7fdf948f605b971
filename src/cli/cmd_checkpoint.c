/* cli/cmd_checkpoint.c: `evchain checkpoint`: sign the Merkle root of a chain as a C2SP
 * checkpoint; a chain directory also keeps it in <dir>/checkpoints/ (and its tree updated). */
#include <stdlib.h>
#include <string.h>

#include "own_checkpoint.h"
#include "proof_util.h"

const char help_checkpoint[] =
    "sign a checkpoint of a chain's Merkle tree\n"
    "usage: evchain checkpoint <chain> --key KEYFILE [--origin ORIGIN] [-o FILE] [--rebuild]\n"
    "                          [--wait MS | --no-store] [--replace]\n"
    "       evchain checkpoint <chain-dir> --set-aside [--wait MS]\n"
    "  <chain>          a chain directory, or a JSON, JSONL or Theater file\n"
    "  --key KEYFILE    private key from `evchain keygen` ('-': standard input; so may a\n"
    "                   chain file be, one of them)\n"
    "  --origin ORIGIN  the checkpoint's first line, naming the chain (default: for a chain\n"
    "                   directory that has checkpoints, the origin of its latest one; else\n"
    "                   the key's name). A chain directory's origin never changes: an\n"
    "                   ORIGIN other than the one of its checkpoints is refused (exit 2)\n"
    "  -o FILE          write the checkpoint there (default: standard output)\n"
    "  --rebuild        verify the whole chain and recompute its tree from it first, instead\n"
    "                   of using the stored tree (compared with the chain for the events\n"
    "                   since the last checkpoint; a damaged one is refused, exit 1)\n"
    "  --wait MS        another writer has the chain: wait up to MS milliseconds for it\n"
    "                   (default 0: refuse at once)\n"
    "  --no-store       sign without storing: the checkpoint is only printed (or written to\n"
    "                   -o FILE), the chain directory is not touched (its tree and\n"
    "                   checkpoints stay as they are); for a chain another process writes,\n"
    "                   or one that cannot be written (read-only mount, another user's).\n"
    "                   Compared with the stored checkpoints/latest all the same: a chain\n"
    "                   that conflicts with it is refused as below (exit 1, nothing printed)\n"
    "  --replace        replace a different checkpoint of the same size stored there\n"
    "                   (signed by another key, or with another origin); without it that\n"
    "                   is refused (exit 2), since an auditor may hold the stored one.\n"
    "                   It never lets a chain that conflicts with checkpoints/latest be\n"
    "                   signed (below)\n"
    "  --set-aside      for a chain directory restored on purpose from an older copy, which\n"
    "                   its stored checkpoints make every writer refuse (and verify report\n"
    "                   truncated or forked): move <chain>/checkpoints/ whole, as it is, to\n"
    "                   <chain>/checkpoints.superseded-N (N one more than any there; nothing\n"
    "                   is deleted or replaced), under the writer lock. The chain then has no\n"
    "                   checkpoints: writers accept it, verify checks it without them (with a\n"
    "                   note naming the folder), and the next checkpoint is signed afresh.\n"
    "                   Refused (exit 2, nothing moved) for a chain that extends its\n"
    "                   checkpoints (nothing to set aside) or has none, and for a chain that\n"
    "                   is itself broken (exit 1). No key: nothing is signed. An auditor\n"
    "                   holding a checkpoint set aside finds later ones of the same origin\n"
    "                   inconsistent with it: events it covered were lost, as the folder\n"
    "                   kept shows\n"
    "\n"
    "The checkpoint is a C2SP tlog-checkpoint (origin, tree size, base64 RFC 9162 root)\n"
    "signed as a C2SP signed note. For a chain directory it is also stored as\n"
    "<chain>/checkpoints/<size>.checkpoint and <chain>/checkpoints/latest, and the tree in\n"
    "<chain>/proof/ is brought up to date; this needs the chain's writer lock, as `append`\n"
    "does: a chain another writer holds (past --wait) or that cannot be written is refused\n"
    "(exit 2, nothing signed) unless --no-store. An actor chain's checkpoints are signed by\n"
    "the runtime with origin `<key name>/<actor id>` (docs/ABI.md section 9): signing one\n"
    "with the runtime's key keeps that origin.\n"
    "A chain directory's stored checkpoints/latest is a promise the next checkpoint must keep\n"
    "(C2SP: a log never signs a tree inconsistent with one it signed): a chain with fewer\n"
    "events than it covers (truncated), or whose first events give another root (rewritten),\n"
    "is refused, `refusing to sign: ...`, exit 1, nothing signed, stored or printed, with or\n"
    "without --no-store or --replace (`evchain verify <chain>` reports such a chain). The\n"
    "newest numbered checkpoint there binds as latest does when it is newer (a crash before\n"
    "latest was linked to it) or latest is missing.\n"
    "A writer (append, recover, resume) refusing such a chain names the way out: the lost\n"
    "events restored, or `evchain checkpoint <chain> --set-aside`.\n"
    "exit: 0 signed (and, for a chain directory without --no-store, stored; --set-aside: set\n"
    "aside), 1 the chain is broken or conflicts with its stored checkpoint, 2 refused\n"
    "(nothing stored) or unusable input\n";

int cmd_checkpoint(int argc, char **argv)
{
    const char *chain = NULL, *key = NULL, *origin = NULL, *out = NULL, *v;
    int bad = 0, rebuild = 0, no_store = 0, wait_given = 0, replace = 0, set_aside = 0;
    unsigned wait_ms = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if ((v = cli_opt(argc, argv, &i, "--key", &bad)) != NULL)
            bad = cli_input("checkpoint", "--key", key = v) != 0;
        else if ((v = cli_opt(argc, argv, &i, "--origin", &bad)) != NULL)
            origin = v;
        else if ((v = cli_opt(argc, argv, &i, "-o", &bad)) != NULL)
            out = v;
        else if ((v = cli_opt(argc, argv, &i, "--wait", &bad)) != NULL) {
            uint64_t ms;
            if (cli_parse_u64(v, &ms) != 0 || ms > 86400000u) {
                cli_error("checkpoint", 0, "--wait: '%s' is not milliseconds (at most a day)", v);
                return EXIT_UNUSABLE;
            }
            wait_ms = (unsigned)ms;
            wait_given = 1;
        } else if (bad)
            break;
        else if (cli_flag(argv, i, "--rebuild"))
            rebuild = 1;
        else if (cli_flag(argv, i, "--no-store"))
            no_store = 1;
        else if (cli_flag(argv, i, "--replace"))
            replace = 1;
        else if (cli_flag(argv, i, "--set-aside"))
            set_aside = 1;
        else if (cli_arg_kind(argv, i) == CLI_END) {
            /* "--": the operands follow */
        } else if (cli_arg_kind(argv, i) == CLI_UNKNOWN) {
            cli_error("checkpoint", 0, "unknown option '%s' (see `evchain help checkpoint`)",
                      argv[i]);
            return EXIT_UNUSABLE;
        } else if (!chain)
            bad = cli_input("checkpoint", "the chain", chain = argv[i]) != 0;
        else {
            cli_error("checkpoint", 0, "unexpected argument '%s'", argv[i]);
            return EXIT_UNUSABLE;
        }
    }
    if (bad)
        return EXIT_UNUSABLE;
    if (set_aside) {
        /* Nothing is signed: no key, and no option of signing, goes with it. */
        const char *other = key        ? "--key"
                            : origin   ? "--origin"
                            : out      ? "-o"
                            : rebuild  ? "--rebuild"
                            : no_store ? "--no-store"
                            : replace  ? "--replace"
                                       : NULL;
        if (other) {
            cli_error("checkpoint", 0,
                      "--set-aside signs nothing: %s does not go with it (usage: evchain "
                      "checkpoint <chain-dir> --set-aside [--wait MS])",
                      other);
            return EXIT_UNUSABLE;
        }
        if (!chain) {
            cli_error("checkpoint", 0, "usage: evchain checkpoint <chain-dir> --set-aside");
            return EXIT_UNUSABLE;
        }
        return cli_own_set_aside(chain, wait_ms);
    }
    if (!chain || !key) {
        cli_error("checkpoint", 0, "usage: evchain checkpoint <chain> --key KEYFILE");
        return EXIT_UNUSABLE;
    }
    if (no_store && (wait_given || replace)) {
        cli_error("checkpoint", 0,
                  "%s and --no-store are exclusive (--no-store never takes the writer lock "
                  "and stores nothing)",
                  wait_given ? "--wait" : "--replace");
        return EXIT_UNUSABLE;
    }
    ec_signer *s;
    if (cli_load_signer("checkpoint", key, &s) != 0)
        return EXIT_UNUSABLE;
    cli_proof_chain pc;
    int code = cli_open_proof_chain("checkpoint", chain, !no_store, wait_ms, rebuild, &pc);
    if (code != EXIT_VALID) {
        ec_signer_free(s);
        return code;
    }
    /* One chain, one origin (C2SP tlog-checkpoint: the origin names the log): a chain
     * directory's checkpoints keep the origin of those already there, as the checkpointer
     * does, also with --no-store, when nothing is stored here. */
    char stored[EC_NOTE_NAME_MAX] = "";
    if (pc.is_dir && cli_keep_origin("checkpoint", chain, &origin, stored, sizeof stored) != 0) {
        cli_close_proof_chain(&pc);
        ec_signer_free(s);
        return EXIT_UNUSABLE;
    }
    char *note = NULL;
    size_t len = 0;
    int rc = cli_sign_checkpoint(&pc, s, origin, replace, &note, &len);
    if (rc == EC_EEXISTS) { /* a different checkpoint of this size is stored (co.replace) */
        const ec_error *e = ec_error_last();
        cli_error("checkpoint", 0, "%s: %s (nothing stored; --replace replaces it)", chain,
                  e && e->message ? e->message : "another checkpoint of this size is stored");
        code = EXIT_UNUSABLE;
    } else if (rc) {
        const ec_error *e = ec_error_last();
        /* A chain cut back below its stored checkpoint or rewritten before it (not a damaged
         * tree file, which --rebuild repairs): name the way out for one restored on purpose. */
        int conflict = rc == EC_EVERIFY && pc.is_dir && e && e->message &&
                       strncmp(e->message, "refusing to sign: the chain", 27) == 0;
        cli_error("checkpoint", 1, "%s: cannot sign a checkpoint", chain);
        if (conflict)
            cli_printf_msg(stderr,
                           "evchain checkpoint: if this chain was restored on purpose from an "
                           "older copy, `evchain checkpoint %s --set-aside` sets its checkpoints "
                           "aside (kept, not deleted) first; otherwise restore the chain\n",
                           chain);
        code = cli_exit_code(rc);
    } else if (out && strcmp(out, "-") != 0) {
        if (cli_write_atomic("checkpoint", out, note, len, 0644, 1) != 0)
            code = EXIT_UNUSABLE;
    } else {
        fwrite(note, 1, len, stdout);
    }
    if (code == EXIT_VALID) {
        uint8_t root[EC_MERKLE_HASH_LEN];
        char hex[2 * EC_MERKLE_HASH_LEN + 1] = "";
        if (ec_tree_root(pc.tree, ec_tree_size(pc.tree), root) == 0)
            ec_hex_encode(hex, root, sizeof root);
        cli_printf_msg(stderr, "evchain checkpoint: %llu events, root %s, origin %s%s%s\n",
                       (unsigned long long)ec_tree_size(pc.tree), hex,
                       origin ? origin : ec_signer_name(s),
                       pc.is_dir && pc.writable ? ", stored in "
                       : pc.is_dir && no_store  ? ", not stored (--no-store)"
                                                : "",
                       pc.is_dir && pc.writable ? pc.cp_dir : "");
    }
    free(note);
    cli_close_proof_chain(&pc);
    ec_signer_free(s);
    return code;
}
