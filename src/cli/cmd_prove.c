/* cli/cmd_prove.c: `evchain prove`: write an offline proof (C2SP tlog-proof) that one event is
 * in a chain's signed Merkle tree, checkable without the chain by `evchain verify-proof`. */
#include <stdlib.h>
#include <string.h>

#include "proof_util.h"

const char help_prove[] =
    "write an offline inclusion proof for one event\n"
    "usage: evchain prove <chain> <seq> -o FILE [--checkpoint CHECKPOINT | --key KEYFILE]\n"
    "                     [--origin ORIGIN] [--no-event]\n"
    "  <chain>          a chain directory, or a JSON, JSONL or Theater file\n"
    "  <seq>            the event to prove\n"
    "  -o FILE          the proof file (`-`: standard output); .tlog-proof is customary\n"
    "  --checkpoint F   prove against this signed checkpoint of the chain ('-': standard\n"
    "                   input; so may KEYFILE or <chain>, one of them)\n"
    "  --key KEYFILE    sign a fresh checkpoint of the whole chain with this key (not\n"
    "                   stored); a chain directory is compared with its stored\n"
    "                   checkpoints/latest first, as `evchain checkpoint` does: one cut back\n"
    "                   below it or rewritten before it is refused (exit 1, nothing signed)\n"
    "  --origin ORIGIN  the chain's origin (the checkpoint's first line, naming the chain:\n"
    "                   `evchain help checkpoint`). With --key, the origin signed (default:\n"
    "                   for a chain directory that has checkpoints, the origin of its\n"
    "                   latest one, else the key's name); otherwise the origin the\n"
    "                   checkpoint used (--checkpoint, or the chain's latest) must have.\n"
    "                   Another origin is refused (exit 2): a chain keeps its origin, and a\n"
    "                   checkpoint of another is not about this chain\n"
    "  --no-event       leave the event's record out of the proof (it is put in the\n"
    "                   proof's extra data by default, so the proof stands alone)\n"
    "\n"
    "Without --checkpoint or --key a chain directory's latest stored checkpoint is used.\n"
    "The proof is a C2SP tlog-proof: index, RFC 9162 inclusion path, signed checkpoint.\n"
    "The proof is checked against the checkpoint before it is written.\n"
    "exit: 0 written, 1 the checkpoint is not this chain's (or the chain's tree file does not\n"
    "      match it: `evchain checkpoint --rebuild`), or with --key the chain conflicts with\n"
    "      its stored checkpoint, 2 unusable input\n";

int cmd_prove(int argc, char **argv)
{
    const char *chain = NULL, *seqs = NULL, *out = NULL, *cpf = NULL, *key = NULL;
    const char *origin = NULL, *v;
    int bad = 0, no_event = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if ((v = cli_opt(argc, argv, &i, "-o", &bad)) != NULL)
            out = v;
        else if ((v = cli_opt(argc, argv, &i, "--checkpoint", &bad)) != NULL)
            bad = cli_input("prove", "--checkpoint", cpf = v) != 0;
        else if ((v = cli_opt(argc, argv, &i, "--key", &bad)) != NULL)
            bad = cli_input("prove", "--key", key = v) != 0;
        else if ((v = cli_opt(argc, argv, &i, "--origin", &bad)) != NULL)
            origin = v;
        else if (bad)
            break;
        else if (cli_flag(argv, i, "--no-event"))
            no_event = 1;
        else if (cli_arg_kind(argv, i) == CLI_END) {
            /* "--": the operands follow */
        } else if (cli_arg_kind(argv, i) == CLI_UNKNOWN) {
            cli_error("prove", 0, "unknown option '%s' (see `evchain help prove`)", argv[i]);
            return EXIT_UNUSABLE;
        } else if (!chain)
            bad = cli_input("prove", "the chain", chain = argv[i]) != 0;
        else if (!seqs)
            seqs = argv[i];
        else {
            cli_error("prove", 0, "unexpected argument '%s'", argv[i]);
            return EXIT_UNUSABLE;
        }
    }
    if (bad)
        return EXIT_UNUSABLE;
    uint64_t seq;
    if (!chain || !seqs || !out) {
        cli_error("prove", 0, "usage: evchain prove <chain> <seq> -o FILE");
        return EXIT_UNUSABLE;
    }
    if (cli_parse_u64(seqs, &seq) != 0) {
        cli_error("prove", 0, "seq '%s' is not a non-negative decimal number", seqs);
        return EXIT_UNUSABLE;
    }
    if (cpf && key) {
        cli_error("prove", 0, "give --checkpoint or --key, not both");
        return EXIT_UNUSABLE;
    }
    ec_signer *s = NULL;
    if (key && cli_load_signer("prove", key, &s) != 0)
        return EXIT_UNUSABLE;
    cli_proof_chain pc;
    int code = cli_open_proof_chain("prove", chain, 0, 0, 0, &pc);
    if (code != EXIT_VALID) {
        ec_signer_free(s);
        return code;
    }
    char *note = NULL, *text = NULL;
    size_t nl = 0, tl;
    ec_tlog_proof *p = NULL;
    uint64_t n = ec_chain_count(pc.chain);
    code = EXIT_UNUSABLE;
    if (seq >= n) {
        cli_error("prove", 0, "%s has %llu events: no event %llu", chain, (unsigned long long)n,
                  (unsigned long long)seq);
        goto done;
    }
    /* One chain, one origin, as `evchain checkpoint` keeps it: a fresh checkpoint of a chain
     * directory that has checkpoints takes their origin, and --origin must be it. */
    char stored[EC_NOTE_NAME_MAX] = "";
    if (s && pc.is_dir && cli_keep_origin("prove", chain, &origin, stored, sizeof stored) != 0)
        goto done;
    if (cpf) {
        note = cli_read_file("prove", "checkpoint", cpf, EC_NOTE_MAX_LEN, &nl);
    } else if (s) {
        /* Compared with the chain directory's stored checkpoint as `evchain checkpoint`
         * does: a chain cut back or rewritten below it is refused, never signed anew. */
        int rc = cli_sign_checkpoint(&pc, s, origin, 0, &note, &nl);
        if (rc != 0) {
            cli_error("prove", 1, "%s: cannot sign a checkpoint", chain);
            /* 1: a tree file that does not match the chain, or a chain that conflicts with
             * its stored checkpoint */
            code = cli_exit_code(rc);
            goto done;
        }
    } else if (pc.is_dir) {
        char latest[4300];
        snprintf(latest, sizeof latest, "%s/latest", pc.cp_dir);
        note = cli_read_stored_file("prove", "checkpoint", latest, EC_NOTE_MAX_LEN, &nl);
        if (!note)
            cli_printf_msg(stderr,
                           "evchain prove: run `evchain checkpoint %s --key KEYFILE` first, "
                           "or pass --key or --checkpoint\n",
                           chain);
    } else {
        cli_error("prove", 0,
                  "a chain file keeps no checkpoints: pass --key KEYFILE or "
                  "--checkpoint FILE");
    }
    if (!note)
        goto done;
    if (origin && !s) { /* a checkpoint given or stored: it must be of that origin */
        char has[EC_NOTE_NAME_MAX];
        cli_note_origin(note, has, sizeof has);
        if (has[0] && strcmp(has, origin) != 0) {
            cli_error("prove", 0,
                      "%s: the checkpoint's origin is '%s', not '%s' (--origin): it is not "
                      "about that chain, refused",
                      cpf ? cpf : chain, has, origin);
            goto done;
        }
    }
    int rc = ec_tlog_proof_build(&p, pc.tree, seq, note, nl);
    if (rc) {
        cli_error("prove", 1, "%s", chain);
        code = cli_exit_code(rc);
        goto done;
    }
    if (no_event) {
        free(p->extra);
        p->extra = NULL;
        p->extra_len = 0;
    }
    if (ec_tlog_proof_format(&text, &tl, p) != 0) {
        cli_error("prove", 1, "cannot format the proof");
        goto done;
    }
    if (strcmp(out, "-") == 0)
        fwrite(text, 1, tl, stdout);
    else if (cli_write_atomic("prove", out, text, tl, 0644, 1) != 0)
        goto done;
    code = EXIT_VALID;
done:
    free(text);
    ec_tlog_proof_free(p);
    free(note);
    cli_close_proof_chain(&pc);
    ec_signer_free(s);
    return code;
}
