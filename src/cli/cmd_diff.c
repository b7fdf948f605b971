/* cli/cmd_diff.c: `evchain diff A B`: the first seq where two chains differ, with both
 * events shown, or how far they agree. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char help_diff[] =
    "compare two chains: the first event where they differ\n"
    "\n"
    "usage: evchain diff <chain-a> <chain-b>\n"
    "\n"
    "Prints `identical: N events` when both hold the same events, `identical up to N` when\n"
    "one is a prefix of the other (N = events in the shorter), else the first differing seq\n"
    "with both events. Events are equal when their records are equal byte for byte (the\n"
    "same fields, the same parent hash, the same hash). Both chains are verified first (a\n"
    "broken one is still compared): a broken one is reported as `evchain verify` does,\n"
    "`broken: <chain>: event <seq>: <reason>`, before the comparison. A record that cannot\n"
    "be read (a chain directory's damaged record) ends the comparison there: `identical up\n"
    "to N: <chain> cannot be read from event N on` when no difference came before it.\n"
    "Control characters in\n"
    "the events are shown as \\xNN and every line of text data is indented (`evchain help\n"
    "show`). Exit 0 when identical and both intact, 1 when they differ (a prefix counts as\n"
    "differing) or either is broken, 2 on unusable input.\n";

static void print_side(const char *label, const char *path, const ec_event *ev)
{
    cli_printf_msg(stdout, "%s (%s):\n", label, path);
    if (!ev) {
        printf("  (no event: the chain ends here)\n");
        return;
    }
    cli_print_event(stdout, ev, "  ");
}

/* Verify one chain as `evchain verify` does, so that diff never calls a broken chain
 * identical without saying so: EXIT_VALID, EXIT_INVALID (reported on stdout) or
 * EXIT_UNUSABLE (reported on stderr). */
static int check_chain(const char *path, ec_chain *c)
{
    ec_verify_result vr;
    memset(&vr, 0, sizeof vr);
    ec_verify_options vo = EC_VERIFY_OPTIONS_INIT;
    int rc = ec_chain_verify(c, &vo, &vr);
    if (rc == 0)
        return EXIT_VALID;
    if (rc == EC_EVERIFY) {
        cli_printf_msg(stdout, "broken: %s: event %llu: %s\n", path, (unsigned long long)vr.seq,
                       vr.reason[0] ? vr.reason : ec_verify_status_name(vr.status));
        return EXIT_INVALID;
    }
    cli_error("diff", 1, "%s: verification could not run", path);
    return EXIT_UNUSABLE;
}

int cmd_diff(int argc, char **argv)
{
    /* The two operands ("--" before them lets one start with '-'). */
    const char *ops[2] = {NULL, NULL};
    int nops = cli_operands("diff", argc, argv, ops, 2);
    if (nops < 0)
        return EXIT_UNUSABLE;
    for (int k = 0; k < nops && k < 2; k++)
        if (cli_input("diff", k ? "chain b" : "chain a", ops[k]) != 0)
            return EXIT_UNUSABLE;
    if (nops != 2) {
        cli_error("diff", 0, "usage: evchain diff <chain-a> <chain-b>");
        return EXIT_UNUSABLE;
    }
    const char *pa = ops[0], *pb = ops[1];
    ec_chain *a = NULL, *b = NULL;
    ec_open_options o = EC_OPEN_OPTIONS_INIT;
    o.inspect = 1; /* a damaged chain can still be compared */
    int rc = ec_chain_open_path(&a, pa, &o);
    if (rc) {
        cli_error("diff", 1, "cannot open");
        return cli_exit_code(rc);
    }
    if ((rc = ec_chain_open_path(&b, pb, &o))) {
        cli_error("diff", 1, "cannot open");
        ec_chain_free(a);
        return cli_exit_code(rc);
    }
    ec_iter *ia = NULL, *ib = NULL;
    int ret = EXIT_UNUSABLE;
    int ca = check_chain(pa, a), cb = check_chain(pb, b);
    if (ca == EXIT_UNUSABLE || cb == EXIT_UNUSABLE)
        goto out;
    int broken = ca || cb; /* EXIT_INVALID at least, whatever the comparison finds */
    if (ec_iter_new(&ia, a, 0) || ec_iter_new(&ib, b, 0)) {
        cli_error("diff", 1, "reading");
        goto out;
    }
    uint64_t seq = 0;
    for (;; seq++) {
        ec_event ea, eb;
        int ra = ec_iter_next(ia, &ea), rb = ec_iter_next(ib, &eb);
        if (ra == EC_EFORMAT || rb == EC_EFORMAT) {
            /* A damaged record (a chain directory's checksum fails): check_chain reported
             * it as the chain's first broken event, so the comparison ends there. */
            cli_printf_msg(stdout, "identical up to %llu: %s cannot be read from event %llu on\n",
                           (unsigned long long)seq, ra == EC_EFORMAT ? pa : pb,
                           (unsigned long long)seq);
            ret = EXIT_INVALID;
            goto out;
        }
        if ((ra && ra != EC_ITEROVER) || (rb && rb != EC_ITEROVER)) {
            cli_error("diff", 1, "%s: reading event %llu", ra && ra != EC_ITEROVER ? pa : pb,
                      (unsigned long long)seq);
            goto out;
        }
        if (ra == EC_ITEROVER && rb == EC_ITEROVER) {
            printf("identical: %llu events\n", (unsigned long long)seq);
            ret = broken ? EXIT_INVALID : EXIT_VALID;
            goto out;
        }
        if (ra == EC_ITEROVER || rb == EC_ITEROVER) {
            cli_printf_msg(stdout, "identical up to %llu: %s has more events\n",
                           (unsigned long long)seq, ra == EC_ITEROVER ? pb : pa);
            print_side("a", pa, ra ? NULL : &ea);
            print_side("b", pb, rb ? NULL : &eb);
            ret = EXIT_INVALID;
            goto out;
        }
        if (!cli_events_equal(&ea, &eb)) {
            printf("first difference at seq %llu\n", (unsigned long long)seq);
            print_side("a", pa, &ea);
            print_side("b", pb, &eb);
            ret = EXIT_INVALID;
            goto out;
        }
    }
out:
    ec_iter_free(ia);
    ec_iter_free(ib);
    ec_chain_free(a);
    ec_chain_free(b);
    return ret;
}
