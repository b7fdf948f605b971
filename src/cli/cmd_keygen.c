/* cli/cmd_keygen.c: `evchain keygen`: make an Ed25519 key for signing checkpoints, write the
 * private key file (mode 0600) and print the public verifier key others check with. */
#include <stdlib.h>
#include <string.h>

#include "proof_util.h"

const char help_keygen[] =
    "make a key for signing checkpoints\n"
    "usage: evchain keygen <name> -o KEYFILE [--force] [--vkey-out FILE]\n"
    "  <name>          the key's name, usually a schema-less URL (example.com/mylog)\n"
    "  -o KEYFILE      private key file to write (mode 0600; never replaced unless --force)\n"
    "  --vkey-out FILE also write the verifier key there\n"
    "\n"
    "Prints the verifier key `<name>+<key id>+<base64 key>` (C2SP signed-note format), to\n"
    "give to whoever checks your checkpoints and proofs with --vkey.\n"
    "exit: 0 written, 2 bad name, existing file or I/O error\n";

int cmd_keygen(int argc, char **argv)
{
    const char *name = NULL, *out = NULL, *vout = NULL, *v;
    int force = 0, bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        if ((v = cli_opt(argc, argv, &i, "-o", &bad)) != NULL)
            out = v;
        else if ((v = cli_opt(argc, argv, &i, "--vkey-out", &bad)) != NULL)
            vout = v;
        else if (bad)
            break;
        else if (cli_flag(argv, i, "--force"))
            force = 1;
        else if (cli_arg_kind(argv, i) == CLI_END) {
            /* "--": the operands follow */
        } else if (cli_arg_kind(argv, i) == CLI_UNKNOWN) {
            cli_error("keygen", 0, "unknown option '%s' (see `evchain help keygen`)", argv[i]);
            return EXIT_UNUSABLE;
        } else if (!name)
            name = argv[i];
        else {
            cli_error("keygen", 0, "unexpected argument '%s'", argv[i]);
            return EXIT_UNUSABLE;
        }
    }
    if (bad)
        return EXIT_UNUSABLE;
    if (!name || !out) {
        cli_error("keygen", 0, "usage: evchain keygen <name> -o KEYFILE");
        return EXIT_UNUSABLE;
    }
    ec_signer *s;
    if (ec_signer_generate(&s, name) != 0) {
        cli_error("keygen", 1, "cannot make a key");
        return EXIT_UNUSABLE;
    }
    char *vkey = NULL;
    int code = EXIT_UNUSABLE;
    if (cli_write_keypair("keygen", s, out, vout, force, &vkey) == 0) {
        printf("%s\n", vkey);
        code = EXIT_VALID;
    }
    free(vkey);
    ec_signer_free(s);
    return code;
}
