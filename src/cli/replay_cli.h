/* cli/replay_cli.h: what the replay, recover, resume and bundle commands share. */
#ifndef EVCHAIN_REPLAY_CLI_H
#define EVCHAIN_REPLAY_CLI_H

#include <stddef.h>

/* bundle.c: the --bundle forms of export and import (argv as the subcommand got it). */
int cli_export_bundle(int argc, char **argv);
int cli_import_bundle(int argc, char **argv);

#endif
