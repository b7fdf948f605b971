/* cli/cmd_show.c: `evchain show`: one event in full, found by seq or hash prefix, printed by
 * the shared event printer (data decoded, as text, or as a hex dump). */
#include <string.h>

#include "cli.h"

const char help_show[] =
    "show one event in full\n"
    "usage: evchain show <chain> <seq|hash-prefix>\n"
    "  <seq>          decimal digits: the event with that seq (when the chain has it;\n"
    "                 otherwise the digits are tried as a hash prefix)\n"
    "  <hash-prefix>  hex digits: the one event whose hash starts with them\n"
    "Data is shown decoded (actor payloads), as text when it is printable UTF-8 (such as\n"
    "JSON; newline and tab allowed, no CR, DEL, C1 or bidirectional control), each of its\n"
    "lines indented by two spaces, else as a hex dump (offset, 16 bytes, ASCII). In the\n"
    "type and description, control characters (C0, DEL, C1), bidirectional controls,\n"
    "U+2028/U+2029 and bytes that are not UTF-8 are shown as \\xNN per byte, a backslash\n"
    "as \\\\.\n"
    "The events from seq 0 up to the one shown are verified first (hashes and links): a\n"
    "broken one is refused.\n"
    "exit: 0 shown, 1 the chain is broken, 2 no such event, unreadable input or usage error\n";

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
    const char *ops[2] = {NULL, NULL};
    int nops = cli_operands("show", argc, argv, ops, 2);
    if (nops < 0)
        return EXIT_UNUSABLE;
    if (nops != 2) {
        cli_error("show", 0,
                  "need a chain and an event\nusage: evchain show <chain> "
                  "<seq|hash-prefix>");
        return EXIT_UNUSABLE;
    }
    const char *path = ops[0], *which = ops[1];
    ec_chain *chain;
    int rc = ec_chain_open_path(&chain, path, NULL);
    if (rc) {
        cli_error("show", 1, "cannot read chain");
        return cli_exit_code(rc);
    }
    uint64_t seq;
    if (!(all_digits(which) && cli_parse_u64(which, &seq) == 0 && seq < ec_chain_count(chain)))
        rc = ec_chain_find_prefix(chain, which, &seq);
    if (rc) {
        cli_error("show", 1, "%s: no event '%s'", path, which);
        ec_chain_free(chain);
        /* EC_EFORMAT: a damaged record met while looking for the prefix (the chain opened,
         * so it is not unusable input): a broken chain */
        return rc == EC_EVERIFY || rc == EC_EFORMAT ? EXIT_INVALID : EXIT_UNUSABLE;
    }
    /* The event is trusted only if every event up to it checks (its hash and the links
     * down to seq 0): verify 0..seq before printing; later events cannot change it. */
    ec_verify_options vo = EC_VERIFY_OPTIONS_INIT;
    ec_verify_result vr;
    memset(&vr, 0, sizeof vr);
    vo.to = seq + 1;
    rc = ec_chain_verify(chain, &vo, &vr);
    if (rc == EC_EVERIFY) {
        cli_error("show", 0, "%s: event %llu: %s", path, (unsigned long long)vr.seq,
                  vr.reason[0] ? vr.reason : ec_verify_status_name(vr.status));
        ec_chain_free(chain);
        return EXIT_INVALID;
    }
    ec_event ev;
    if (rc == 0)
        rc = ec_chain_get(chain, seq, &ev);
    if (rc) {
        cli_error("show", 1, "%s: cannot read event %llu", path, (unsigned long long)seq);
        ec_chain_free(chain);
        return cli_exit_code(rc);
    }
    cli_print_event(stdout, &ev, ""); /* shared with diff and replay reports */
    ec_chain_free(chain);
    return EXIT_VALID;
}
