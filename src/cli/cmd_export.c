/* cli/cmd_export.c: `evchain export`: write a chain as JSON, JSONL or Theater, to standard
 * output or atomically to a file. */
#include <string.h>

#include "cli.h"
#include "replay_cli.h"

const char help_export[] =
    "convert a chain to JSON, JSONL or Theater's format\n"
    "usage: evchain export <chain> [--format json|jsonl|theater] [-o FILE]\n"
    "  <chain>            a chain directory or a JSON, JSONL or Theater file ('-': standard\n"
    "                     input)\n"
    "  --format FORMAT    json (one document, default), jsonl (a header line, then one\n"
    "                     event per line) or theater (only for a theater-sha1 chain)\n"
    "  -o, --output FILE  write FILE atomically (temporary file, fsync, rename); through\n"
    "                     a symbolic link its file is replaced, a FIFO or device is\n"
    "                     written in place; default standard output\n"
    "The chain is verified while it is read; a broken chain is refused (exit 1, `<chain>:\n"
    "event <seq>: <reason>` on stderr): a file given with -o is left as it was; standard\n"
    "output, a FIFO or a device may already hold the events before the broken one.\n"
    "       evchain export --bundle <actor chain-dir> -o FILE: one file with the actor's\n"
    "                     chain, module, store objects and labels and sandbox files,\n"
    "                     for `import --bundle` (migration); an object the actor had or\n"
    "                     a label it set that the store lacks is refused (exit 1)\n"
    "exit: 0 written, 1 the chain is broken, 2 unreadable input, refused or usage error\n";

int cmd_export(int argc, char **argv)
{
    /* actor migration bundles: cli/bundle.c. A plain scan (an option's value could look like
     * "--"): up to the first "--", after which --bundle would be an operand. */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--bundle") == 0)
            return cli_export_bundle(argc, argv);
    const char *path = NULL, *out = "-", *fmt = "json";
    int bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        const char *v;
        if ((v = cli_opt(argc, argv, &i, "--format", &bad)))
            fmt = v;
        else if ((v = cli_opt(argc, argv, &i, "--output", &bad)) ||
                 (v = cli_opt(argc, argv, &i, "-o", &bad)))
            out = v;
        else if (bad)
            break;
        else if (cli_arg_kind(argv, i) == CLI_END) {
            /* "--": the operands follow */
        } else if (cli_arg_kind(argv, i) == CLI_UNKNOWN) {
            cli_error("export", 0, "unknown option '%s' (see `evchain help export`)", argv[i]);
            return EXIT_UNUSABLE;
        } else if (!path)
            path = argv[i];
        else {
            cli_error("export", 0, "more than one chain given ('%s')", argv[i]);
            return EXIT_UNUSABLE;
        }
    }
    if (bad)
        return EXIT_UNUSABLE;
    if (!path) {
        cli_error("export", 0,
                  "no chain given\nusage: evchain export <chain> [--format F] [-o FILE]");
        return EXIT_UNUSABLE;
    }
    ec_export_options eo = EC_EXPORT_OPTIONS_INIT;
    if (ec_format_from_name(&eo.format, fmt) != 0 ||
        (eo.format != EC_FORMAT_JSON && eo.format != EC_FORMAT_JSONL &&
         eo.format != EC_FORMAT_THEATER)) {
        cli_error("export", 0, "unknown output format '%s' (json, jsonl or theater)", fmt);
        return EXIT_UNUSABLE;
    }
    ec_chain *chain;
    int rc = ec_chain_open_path(&chain, path, NULL);
    if (rc) {
        cli_error("export", 1, "cannot read chain");
        return cli_exit_code(rc);
    }
    cli_progress pr;
    cli_progress_init(&pr, "export");
    if (strcmp(out, "-") == 0)
        pr.enabled = 0; /* the bar would interleave with the data on a terminal */
    eo.progress = cli_progress_cb;
    eo.progress_ctx = &pr;
    rc = ec_export_file(chain, out, &eo);
    cli_progress_done(&pr);
    ec_chain_free(chain);
    if (rc == EC_EVERIFY) { /* the library's message is "event <seq>: <reason>" */
        const ec_error *e = ec_error_last();
        cli_error("export", 0, "%s: %s", path, e ? e->message : "broken chain");
        return EXIT_INVALID;
    }
    if (rc) {
        cli_error("export", 1, "cannot export %s", path);
        return EXIT_UNUSABLE;
    }
    return EXIT_VALID;
}
