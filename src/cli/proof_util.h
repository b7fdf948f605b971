/* cli/proof_util.h: what the proof subcommands (keygen, checkpoint, prove, verify-proof) and
 * `verify --since` share: reading files and keys, atomic output, a chain's proof paths. */
#ifndef EVCHAIN_CLI_PROOF_UTIL_H
#define EVCHAIN_CLI_PROOF_UTIL_H

#include "cli.h"

/* Whole file into a NUL-terminated buffer (malloc'd); NULL with a message printed on error
 * or when it is larger than max bytes. "-" reads standard input (the same limit). */
char *cli_read_file(const char *cmd, const char *what, const char *path, size_t max, size_t *len);
/* The same for a file a chain directory holds (its latest checkpoint): refused unless a
 * regular file, so that a FIFO planted there cannot hang the command. A file the user names
 * may be a FIFO (`--vkey <(...)`): that is cli_read_file. */
char *cli_read_stored_file(const char *cmd, const char *what, const char *path, size_t max,
                           size_t *len);
/* The same, but a file that does not exist is NULL with *absent set and nothing printed (a
 * numbered checkpoint a writer keeping N removed since the folder was listed). */
char *cli_read_stored_file_if(const char *cmd, const char *what, const char *path, size_t max,
                              size_t *len, int *absent);
/* Write data to path atomically (temporary file in the same folder, fsync, rename) with
 * file mode `mode`; refuses to replace an existing file unless overwrite. A symbolic link's
 * file is replaced, not the link; a device or FIFO is written in place (ec_output_resolve).
 * 0 or -1 (printed). */
int cli_write_atomic(const char *cmd, const char *path, const void *data, size_t len, int mode,
                     int overwrite);
/* Load verifier keys: each spec is a file holding one key per line, or a key text itself.
 * *out is a malloc'd array of *n keys; 0 or -1 (printed). */
int cli_load_vkeys(const char *cmd, char **specs, int nspecs, ec_vkey ***out, size_t *n);
void cli_free_vkeys(ec_vkey **keys, size_t n);
/* Load a private key file written by `evchain keygen`. */
int cli_load_signer(const char *cmd, const char *path, ec_signer **out);
/* Write a signer's private key file (mode 0600) and, when vkey_path, its verifier key file;
 * *vkey_out gets the verifier key text (malloc'd). 0 or -1 (printed). */
int cli_write_keypair(const char *cmd, ec_signer *s, const char *key_path, const char *vkey_path,
                      int overwrite, char **vkey_out);
/* The actor runtime's checkpoint key: key_path, or DATA_DIR/runtime.key made on first use
 * (with DATA_DIR/runtime.vkey, the verifier key an auditor checks with). 0 or -1 (printed). */
int cli_runtime_signer(const char *cmd, const char *data_dir, const char *key_path,
                       ec_signer **out);
/* 1 when cli_runtime_signer(cmd, data_dir, NULL, ...) would make a new key (neither
 * DATA_DIR/runtime.key nor DATA_DIR/runtime.vkey is there), writing; 0 when it would only
 * read one (or refuse). */
int cli_runtime_signer_would_make(const char *data_dir);
/* 1 when path is a chain directory (its tree is <dir>/proof/tree, its checkpoints are in
 * <dir>/checkpoints/). */
int cli_is_dir(const char *path);
/* Lines of a verdict to print later, each through cli_printf_msg (what they quote, a path
 * with a newline in it, escaped: never a line of its own). */
#define CLI_LINES_MAX 8
typedef struct cli_lines {
    int n;
    char line[CLI_LINES_MAX][4800];
} cli_lines;
void cli_lines_add(cli_lines *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_lines_print(FILE *out, const cli_lines *l);
/* `verify <chain> --since CHECKPOINT --vkey VKEY`: check that an open (and, when
 * chain_verified, already verified) chain extends a signed checkpoint; prints the verdict
 * (ok_line, when given, first, then the lines of ok_note when not NULL, and only when the chain
 * extends the checkpoint) and returns the exit code (0 extends, 1 truncated/forked/bad
 * signature, 2 unusable). */
int cli_verify_since(const char *path, ec_chain *chain, int chain_verified,
                     const char *checkpoint_path, char **vkey_specs, int nvkeys,
                     const char *ok_line, const cli_lines *ok_note, const char *origin,
                     int is_bundle);
/* --origin ORIGIN of verify-proof and verify --since: 1 (and the verdict "invalid" printed,
 * prefixed by `who`) when the note opens with one of keys but its origin is not `origin`;
 * 0 when it is, when origin is NULL, or when the note does not open (the caller's own
 * verification then says why). Checked before anything else, so that a checkpoint of
 * another chain is reported as that, not as a fork of this one. */
int cli_origin_mismatch(const char *who, const char *note, size_t len, ec_vkey *const *keys,
                        size_t nkeys, const char *origin);
/* The origin of a chain directory's own stored checkpoint (ec_checkpoint_stored: its
 * checkpoints/latest, or the newest numbered one when newer or when latest is gone) into out,
 * "" when it has none (or none that parses, which the checkpointer ignores too); its path
 * into file. 0, or -1 (printed). */
int cli_stored_origin(const char *cmd, const char *chain_dir, char *out, size_t cap, char *file,
                      size_t file_cap);
/* The size that checkpoint covers, into *size (0: none); -1 (said) when it cannot be read. */
int cli_stored_size(const char *cmd, const char *chain_dir, uint64_t *size);
/* One chain, one origin (C2SP tlog-checkpoint: the origin names the log): the origin a fresh
 * checkpoint of chain signs. That of its stored checkpoints (into stored, cap bytes) when
 * it has some, and then --origin (*origin, may be NULL) must be it; else *origin as given.
 * 0 with *origin set, or -1 (printed). */
int cli_keep_origin(const char *cmd, const char *chain, const char **origin, char *stored,
                    size_t cap);
/* The origin of a checkpoint note (its text's first line, signatures unchecked) into out,
 * "" when the note does not parse as a checkpoint. */
void cli_note_origin(const char *note, char *out, size_t cap);

/* A chain opened with its Merkle tree: a chain directory keeps its tree in <dir>/proof/tree
 * and its checkpoints in <dir>/checkpoints/; a file chain gets a tree in memory. */
typedef struct cli_proof_chain {
    ec_chain *chain;
    ec_tree *tree;
    int is_dir;
    int writable;      /* the chain's writer lock is held: tree and checkpoints are stored */
    char cp_dir[4200]; /* <dir>/checkpoints when is_dir */
} cli_proof_chain;

/* Open for proofs; rebuild: verify the whole chain and recompute its tree instead of reading
 * the stored one. want_write (a chain directory; ignored for a file): open as its writer, so
 * that the tree and checkpoints are stored, waiting up to wait_ms milliseconds for another
 * writer's lock (as `append --wait`); a chain that cannot be written (another writer still,
 * a read-only mount, another user's) is refused with a message naming why (exit 2), never
 * opened read-only instead: the caller would then sign what it cannot store. Without
 * want_write the chain is opened read-only and nothing is stored. Returns an exit code (0 on
 * success). */
int cli_open_proof_chain(const char *cmd, const char *path, int want_write, unsigned wait_ms,
                         int rebuild, cli_proof_chain *pc);
void cli_close_proof_chain(cli_proof_chain *pc);
/* Sign a fresh checkpoint of an opened proof chain (origin: as cli_keep_origin gave it).
 * A chain directory goes through its checkpointer, which compares the chain with its stored
 * `latest` and refuses a fork of it (EC_EVERIFY: truncated below it, or another root at its
 * size) whether it stores (pc->writable, with `replace` for another checkpoint of the same
 * size) or not (`checkpoint --no-store`, `prove --key`); a file chain has none to compare
 * with. *note (malloc'd) and *len on success; an ec error code otherwise. */
int cli_sign_checkpoint(cli_proof_chain *pc, ec_signer *s, const char *origin, int replace,
                        char **note, size_t *len);
#endif
