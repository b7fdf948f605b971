/* cli/own_checkpoint.h: the checkpoints a chain directory keeps of itself (<chain>/checkpoints/,
 * docs/FORMAT.md 5.5) as plain `verify` checks the chain against them, and `checkpoint
 * --set-aside`, which moves them aside (kept) for a chain restored from an older copy. */
#ifndef EVCHAIN_CLI_OWN_CHECKPOINT_H
#define EVCHAIN_CLI_OWN_CHECKPOINT_H

#include "proof_util.h"

#define CLI_OWN_DAMAGED_MAX 4

/* What <chain>/checkpoints/ holds, read before the chain is opened (a live writer stores a
 * checkpoint only once the events it covers are written, so the chain opened after has them
 * all). `latest` should be a second name (or a copy) of the newest numbered file. */
typedef struct cli_own {
    char dir[4200]; /* <chain>/checkpoints */
    char *latest;   /* checkpoints/latest as read (malloc'd); NULL when there is none */
    size_t latest_len;
    char *numbered; /* the newest numbered checkpoint whose text parses and names the size
                       its file name says (malloc'd); NULL when there is none */
    size_t numbered_len;
    uint64_t numbered_size;
    /* numbered files newer than that one that do not parse or name another size: damaged,
     * since checkpoints are renamed into place whole (at most CLI_OWN_DAMAGED_MAX read) */
    size_t ndamaged;
    int damaged_more; /* more of them than were read */
    uint64_t damaged[CLI_OWN_DAMAGED_MAX];
    char damaged_why[CLI_OWN_DAMAGED_MAX][300];
    /* <chain>/checkpoints.superseded-N folders (checkpoint --set-aside), for a note */
    size_t nsuperseded;
    char superseded[1200]; /* their paths, ", "-separated (cut short with "...") */
} cli_own;

/* Read them (a chain directory's checkpoints/ that does not exist: none). 0, or 2 when one
 * cannot be read (not a regular file, an I/O error: said on stderr). Free with cli_own_free
 * either way. */
int cli_own_read(const char *cmd, const char *chain_dir, cli_own *o);
void cli_own_free(cli_own *o);
/* 1 when checkpoints/ holds a checkpoint, sound or damaged. */
int cli_own_any(const cli_own *o);

/* The open, verified chain against them, each with the code of --since and the signature not
 * checked (no key is given; a key named by the directory would be as forgeable as the file):
 * `latest`, and the newest numbered checkpoint too when it is not the same one (after a crash
 * between storing it and linking `latest`, or when `latest` was removed or altered). Returns
 * the exit code: 0 when the chain extends each (or there is none), *ok the lines to print
 * after the verdict's ok line (which checkpoint, and notes: `latest` missing or not the
 * newest numbered one, checkpoints set aside); 1 when it falls short of one (truncated), was
 * rewritten before one (forked), or one is damaged, or `latest` and the newest numbered one
 * give two roots for one size: the verdict, then the notes, printed on stdout (unless quiet),
 * with how to set aside the checkpoints of a chain restored on purpose; 2 when it cannot
 * tell. */
int cli_own_verify(const char *chain_dir, ec_chain *chain, const cli_own *o, int quiet,
                   cli_lines *ok);

/* `evchain checkpoint <chain> --set-aside [--wait MS]`: 0, 1 or 2 (said). */
int cli_own_set_aside(const char *chain, unsigned wait_ms);

#endif
