/* cli/bundle.c: `evchain export --bundle` and `evchain import --bundle` (actor migration),
 * reached from cmd_export.c and cmd_import.c when --bundle is given. */
#include <string.h>

#include <evchain/replay.h>

#include "cli.h"
#include "replay_cli.h"

/* evchain export --bundle <chain-dir> -o FILE [--data-dir DIR] [--cache DIR] */
int cli_export_bundle(int argc, char **argv)
{
    const char *chain = NULL, *out = NULL, *data = NULL, *cache = NULL, *v;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        if ((v = cli_opt(argc, argv, &i, "-o", &bad)) ||
            (!bad && (v = cli_opt(argc, argv, &i, "--output", &bad))))
            out = v;
        else if ((v = cli_opt(argc, argv, &i, "--data-dir", &bad)))
            data = v;
        else if ((v = cli_opt(argc, argv, &i, "--cache", &bad)))
            cache = v;
        else if (bad)
            return EXIT_UNUSABLE;
        else if (cli_flag(argv, i, "--bundle"))
            continue;
        else if (cli_arg_kind(argv, i) == CLI_END) {
            /* "--": the operands follow */
        } else if (cli_arg_kind(argv, i) == CLI_UNKNOWN) {
            cli_error("export", 0, "--bundle: unknown option '%s'", argv[i]);
            return EXIT_UNUSABLE;
        } else if (!chain)
            chain = argv[i];
        else {
            cli_error("export", 0, "--bundle: one chain at a time ('%s')", argv[i]);
            return EXIT_UNUSABLE;
        }
    }
    if (!chain || !out) {
        cli_error("export", 0, "usage: evchain export --bundle <chain-dir> -o FILE");
        return EXIT_UNUSABLE;
    }
    int rc = ec_bundle_export(chain, data, cache, out);
    if (rc) {
        cli_error("export", 1, "cannot write the bundle");
        return cli_exit_code(rc);
    }
    printf("bundle %s written from %s\n", out, chain);
    return EXIT_VALID;
}

/* evchain import --bundle FILE --data-dir DIR [--cache DIR] */
int cli_import_bundle(int argc, char **argv)
{
    const char *file = NULL, *data = "./evchain-data", *cache = NULL, *v;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        if ((v = cli_opt(argc, argv, &i, "--data-dir", &bad)))
            data = v;
        else if ((v = cli_opt(argc, argv, &i, "--cache", &bad)))
            cache = v;
        else if (bad)
            return EXIT_UNUSABLE;
        else if (cli_flag(argv, i, "--bundle"))
            continue;
        else if (cli_arg_kind(argv, i) == CLI_END) {
            /* "--": the operands follow */
        } else if (cli_arg_kind(argv, i) == CLI_UNKNOWN) {
            cli_error("import", 0, "--bundle: unknown option '%s'", argv[i]);
            return EXIT_UNUSABLE;
        } else if (!file)
            file = argv[i];
        else {
            cli_error("import", 0, "--bundle: one file at a time ('%s')", argv[i]);
            return EXIT_UNUSABLE;
        }
    }
    if (!file) {
        cli_error("import", 0, "usage: evchain import --bundle FILE --data-dir DIR");
        return EXIT_UNUSABLE;
    }
    char id[80];
    int rc = ec_bundle_import(file, data, cache, id, sizeof id);
    if (rc) {
        cli_error("import", 1, "bundle refused");
        return rc == EC_EVERIFY || rc == EC_EDIVERGE ? EXIT_INVALID : EXIT_UNUSABLE;
    }
    printf("imported actor %s into %s (verified and replayed); continue it with: evchain "
           "resume %s --data-dir %s\n",
           id, data, id, data);
    return EXIT_VALID;
}
