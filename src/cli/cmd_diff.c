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
    "same fields, the same hash). Exit 0 when identical, 1 when they differ (a prefix\n"
    "counts as differing), 2 on unusable input.\n";

static void print_side(const char *label, const char *path, const ec_event *ev)
{
    printf("%s (%s):\n", label, path);
    if (!ev) {
        printf("  (no event: the chain ends here)\n");
        return;
    }
    cli_print_event(stdout, ev, "  ");
}

int cmd_diff(int argc, char **argv)
{
    if (argc != 3) {
        cli_error("diff", 0, "usage: evchain diff <chain-a> <chain-b>");
        return EXIT_UNUSABLE;
    }
    ec_chain *a = NULL, *b = NULL;
    ec_open_options o = EC_OPEN_OPTIONS_INIT;
    o.inspect = 1; /* a damaged chain can still be compared */
    int rc = ec_chain_open_path(&a, argv[1], &o);
    if (rc) {
        cli_error("diff", 1, "cannot open");
        return EXIT_UNUSABLE;
    }
    if ((rc = ec_chain_open_path(&b, argv[2], &o))) {
        cli_error("diff", 1, "cannot open");
        ec_chain_free(a);
        return EXIT_UNUSABLE;
    }
    ec_iter *ia = NULL, *ib = NULL;
    int ret = EXIT_UNUSABLE;
    if (ec_iter_new(&ia, a, 0) || ec_iter_new(&ib, b, 0)) {
        cli_error("diff", 1, "reading");
        goto out;
    }
    uint64_t seq = 0;
    for (;; seq++) {
        ec_event ea, eb;
        int ra = ec_iter_next(ia, &ea), rb = ec_iter_next(ib, &eb);
        if ((ra && ra != EC_ITEROVER) || (rb && rb != EC_ITEROVER)) {
            cli_error("diff", 1, "%s: reading event %llu",
                      ra && ra != EC_ITEROVER ? argv[1] : argv[2], (unsigned long long)seq);
            goto out;
        }
        if (ra == EC_ITEROVER && rb == EC_ITEROVER) {
            printf("identical: %llu events\n", (unsigned long long)seq);
            ret = EXIT_VALID;
            goto out;
        }
        if (ra == EC_ITEROVER || rb == EC_ITEROVER) {
            printf("identical up to %llu: %s has more events\n", (unsigned long long)seq,
                   ra == EC_ITEROVER ? argv[2] : argv[1]);
            print_side("a", argv[1], ra ? NULL : &ea);
            print_side("b", argv[2], rb ? NULL : &eb);
            ret = EXIT_INVALID;
            goto out;
        }
        if (!cli_events_equal(&ea, &eb)) {
            printf("first difference at seq %llu\n", (unsigned long long)seq);
            print_side("a", argv[1], &ea);
            print_side("b", argv[2], &eb);
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
