/* proof/proof_internal.h: helpers shared by the proof layer's files (not installed). */
#ifndef EVCHAIN_PROOF_INTERNAL_H
#define EVCHAIN_PROOF_INTERNAL_H

#include <evchain/proof.h>

/* A C2SP key name: non-empty UTF-8 under EC_NOTE_NAME_MAX bytes, no space, '+' or control. */
int ec_note_name_valid(const char *name, size_t len);
/* Check a note's bytes and find where its text ends (at the last blank line), without
 * looking at signatures: *text_len includes the text's final newline. */
int ec_note_split(const char *note, size_t len, size_t *text_len);
/* The chain a tree was opened over. */
ec_chain *ec_tree_chain(ec_tree *t);
/* Recompute from the chain every stored subtree covering an event at or past `from`, and the
 * frontier, starting from the subtrees of the first `from` leaves as stored (the caller has
 * checked them: they give a signed root). EC_EVERIFY naming the tree file and the damaged
 * block when one differs. O(size - from) event reads. */
int ec_tree_check(ec_tree *t, uint64_t from);
/* 1 when nothing in the tree came from its file unchecked (built from the chain, or
 * ec_tree_check passed since it was opened): its roots may be signed as they are. */
int ec_tree_checked(const ec_tree *t);

#endif
