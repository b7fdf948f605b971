/* actor/cbor.h: the small deterministic CBOR writer every actor event payload is built with
 * (RFC 8949 section 4.2.1 core deterministic encoding), and its strict reader. */
#ifndef EVCHAIN_ACTOR_CBOR_H
#define EVCHAIN_ACTOR_CBOR_H

#include <stddef.h>
#include <stdint.h>

/* A growable output buffer. Starts on a caller-provided stack array (`small`) so that the
 * hot path (a host call's request and result) never allocates; `oom` is sticky so that a
 * writer can emit a whole payload and check once at the end. */
typedef struct cbuf {
    uint8_t *p;
    size_t len, cap;
    int heap, oom;
} cbuf;

void cb_init(cbuf *b, uint8_t *small, size_t cap);
void cb_free(cbuf *b);
/* What must stay true for determinism: integers use their shortest head, maps are written
 * with their keys already in deterministic order (shorter key first, then bytewise), no
 * indefinite lengths, no floats. The callers in host.c/runtime.c write keys in that order;
 * cb_check() (the reader) refuses anything else, and the tests decode every payload. */
void cb_uint(cbuf *b, uint64_t v);
void cb_int(cbuf *b, int64_t v);
void cb_bytes(cbuf *b, const void *p, size_t n);
void cb_text(cbuf *b, const char *s, size_t n);
void cb_str(cbuf *b, const char *s); /* NUL-terminated text */
/* Text when the bytes are valid UTF-8, else a byte string: a deterministic function of the
 * content that keeps message bodies and file contents readable in `evchain show`. */
void cb_blob(cbuf *b, const void *p, size_t n);
void cb_map(cbuf *b, size_t pairs);
void cb_array(cbuf *b, size_t items);
void cb_bool(cbuf *b, int v);
void cb_null(cbuf *b);

/* Check that data is exactly one well-formed deterministic CBOR item of the subset above.
 * 0 or EC_EFORMAT (with the byte offset in the message). */
int cb_check(const uint8_t *data, size_t len);

/* The value under text key `key` of the map `data`: its major type (0 unsigned, 2 bytes,
 * 3 text, 7 simple), its bytes for strings, its argument (the integer, or 20/21/22 for
 * false/true/null). -1 when absent or not a map. */
int cb_map_find(const uint8_t *data, size_t len, const char *key, unsigned *mt, const uint8_t **val,
                size_t *val_len, uint64_t *num);

#endif
