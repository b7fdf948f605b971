/* cli/follow.h: `evchain log -f`: follow a chain directory as another process appends to it,
 * verifying every event as it arrives (as `tail -f` follows a file). */
#ifndef EVCHAIN_CLI_FOLLOW_H
#define EVCHAIN_CLI_FOLLOW_H

#include <stdint.h>
#include <evchain/evchain.h>

/* Called for each verified event, in seq order; non-zero stops following with that code. */
typedef int (*cli_follow_fn)(const ec_event *ev, void *ctx);

/* Follow the chain directory `dir` from seq `from`, verifying links and hashes from there on
 * (from > 0 trusts event from-1 as the anchor), until the event `to` (inclusive; UINT64_MAX:
 * never) has been shown, or the callback returns non-zero. Polls every poll_ms
 * milliseconds (0: 100). Returns an exit code: 0 done, 1 a new event does not verify
 * ("<dir>: event <seq>: <reason>") or the chain was rewritten or truncated under the reader
 * (the store's EC_EVERIFY), 2 the chain cannot be read (the reason on stderr, prefixed with
 * cmd). */
int cli_log_follow(const char *cmd, const char *dir, uint64_t from, uint64_t to, unsigned poll_ms,
                   cli_follow_fn fn, void *ctx);

#endif
