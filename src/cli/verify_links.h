/* cli/verify_links.h: `evchain verify --links` (the actor layer's part of verify). */
#ifndef EVCHAIN_CLI_VERIFY_LINKS_H
#define EVCHAIN_CLI_VERIFY_LINKS_H

/* Replace each runtime data directory among paths by its actors' chain directories
 * (<dir>/actors/<id>/chain, sorted); other paths are kept. *out is freed by cli_links_free. */
int cli_links_expand(char **paths, int npaths, char ***out, int *nout);
void cli_links_free(char **paths, int n);
/* 1 when path is an actor bundle file (cmd_verify.c): its chain is read with
 * ec_bundle_open_chain, not ec_chain_open_path. */
int cli_is_bundle(const char *path);
/* Check the links between the chains and that every accepted message is accounted for;
 * prints one line per unaccounted message, then the verdict; returns an exit code: 0, 1 a
 * broken link, 2 unreadable, 3 (EXIT_UNDELIVERED) some message unaccounted for. */
int cli_links_check(char **paths, int n);

#endif
