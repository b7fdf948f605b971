/* cli/replay_cli.h: what the replay, recover, resume and bundle commands share. */
#ifndef EVCHAIN_REPLAY_CLI_H
#define EVCHAIN_REPLAY_CLI_H

#include <stddef.h>

/* The runtime cache of a chain directory <data>/actors/<id>/chain: <data>/cache. */
void replay_cli_default_cache(const char *chain_path, char *out, size_t cap);

#endif
