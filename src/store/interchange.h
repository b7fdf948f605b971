/* store/interchange.h: private pieces shared by the interchange readers and writers
 * (store/json.c: JSON and JSONL, store/theater.c: Theater, store/open.c: detection and
 * ec_chain_open_path). Formats: docs/FORMAT.md sections 2 and 3. */
#ifndef EVCHAIN_STORE_INTERCHANGE_H
#define EVCHAIN_STORE_INTERCHANGE_H

#include <stdio.h>
#include <jansson.h>
#include <evchain/store.h>

/* Limits (FORMAT.md section 2): the JSON document is parsed whole by jansson, whose tree
 * costs several times the text, so it is capped; JSONL and Theater stream. */
#define EC_JSON_DOC_MAX    (512ull << 20)
#define EC_JSONL_LINE_MAX  (192ull << 20)
#define EC_DETECT_LINE_MAX (1u << 20) /* longest first line looked at to tell JSONL */

/* A buffered byte source over a FILE: lets the format be detected by peeking, then the same
 * bytes parsed from the start; counts bytes so errors can name an offset and limits hold for
 * pipes too. Invariant: buf[pos..len) are the unread bytes, at file offset `offset + pos`. */
typedef struct ec_src {
    FILE *f;
    const char *name;
    char *buf;
    size_t pos, len, cap;
    uint64_t offset; /* file offset of buf[0] */
    int eof;
    int io_errno; /* errno of a failed read, 0 if none */
    uint64_t fed; /* bytes handed to jansson so far (limit check) */
    uint64_t feed_limit;
    int over_limit;
} ec_src;

void ec_src_init(ec_src *s, FILE *f, const char *name);
void ec_src_free(ec_src *s);
/* Make at least `want` unread bytes available unless the file ends first. 0 or EC_EIO. */
int ec_src_fill(ec_src *s, size_t want);
/* Next byte without consuming it: 0..255, -1 at the end, -2 on a read error. */
static inline int ec_src_peek(ec_src *s)
{
    if (s->pos == s->len) {
        if (ec_src_fill(s, 1) != 0)
            return -2;
        if (s->pos == s->len)
            return -1;
    }
    return (unsigned char)s->buf[s->pos];
}
/* Skip JSON whitespace, then peek. */
static inline int ec_src_peek_ws(ec_src *s)
{
    int c;
    while ((c = ec_src_peek(s)) == ' ' || c == '\t' || c == '\n' || c == '\r')
        s->pos++;
    return c;
}
/* Detect JSON / JSONL / Theater from the buffered start without consuming anything. */
int ec_src_detect(ec_src *s, ec_file_format *out);
/* Parse the rest of the source as one JSON document (at most `limit` bytes). NULL with the
 * error raised (naming line, column and byte offset) on failure. */
json_t *ec_src_load_doc(ec_src *s, uint64_t limit, const char *what);
/* Next line (number lineno, for messages) without its '\n'; NUL bytes are kept (jansson
 * rejects them with a position). EC_ITEROVER at the end, EC_EFORMAT when longer than max.
 * The view is valid until the next call. *line_off gets the line's byte offset. */
int ec_src_line(ec_src *s, uint64_t lineno, const char **line, size_t *len, uint64_t max,
                uint64_t *line_off);

/* One event as read from a file, before it becomes a record (FORMAT.md section 1). */
typedef struct ec_jevent {
    uint64_t seq, timestamp;
    int has_parent, has_desc;
    uint8_t hash[EC_HASH_MAX];
    uint8_t parent[EC_HASH_MAX];
    const char *type;
    size_t type_len;
    const char *desc;
    size_t desc_len;
    const uint8_t *data;
    size_t data_len;
} ec_jevent;

/* A growable byte buffer reused from event to event. */
typedef struct ec_bytes {
    uint8_t *p;
    size_t len, cap;
} ec_bytes;
int ec_bytes_reserve(ec_bytes *b, size_t n);
void ec_bytes_free(ec_bytes *b);

/* Lay out ev as a record of algorithm alg (encoding || stored hash) into out. */
int ec_jevent_encode(const ec_jevent *ev, ec_hash_alg alg, ec_bytes *out);

/* u64 from a JSON number >= 0 or a string of decimal digits (FORMAT.md section 2). */
int ec_json_get_u64(const json_t *v, uint64_t *out);

/* Streaming Theater reader state (store/theater.c). */
typedef struct ec_tstate {
    int started, done;
    size_t idx;              /* index of the next event */
    ec_bytes key, type, tmp; /* decoded key, event_type, hash bytes */
} ec_tstate;
/* Next element of a Theater array from s into ev (data into *data; views valid until the
 * next call). EC_ITEROVER after the closing ']' (only whitespace may follow). Errors name
 * the byte offset and the event index. */
int ec_theater_next(ec_src *s, ec_tstate *t, ec_jevent *ev, ec_bytes *data);
void ec_tstate_free(ec_tstate *t);

/* Buffered output writer: hand-formatted text, one fwrite per 64 KiB. The first write error
 * sticks in err (later writes are skipped) so callers check once at the end. */
typedef struct ec_wbuf {
    FILE *f;
    char *b;
    size_t len, cap;
    int err; /* 0 or EC_EIO / EC_ENOSPC, raised */
} ec_wbuf;
int ec_wbuf_init(ec_wbuf *w, FILE *f);
int ec_wbuf_flush(ec_wbuf *w);
void ec_wbuf_free(ec_wbuf *w);
void ec_wbuf_put(ec_wbuf *w, const void *p, size_t n);
void ec_wbuf_str(ec_wbuf *w, const char *s);
void ec_wbuf_u64(ec_wbuf *w, uint64_t v);
/* JSON string with quotes; ascii_only: Python's ensure_ascii escaping (FORMAT.md 3). */
void ec_wbuf_json_string(ec_wbuf *w, const char *s, size_t n, int ascii_only);
/* Room for n more bytes (n <= 64 KiB) at the end of the buffer, NULL after an error. */
char *ec_wbuf_room(ec_wbuf *w, size_t n);

/* A reader yields the records of a JSON, JSONL or Theater stream one at a time, after
 * reading the header (and, for whole documents, parsing the document). */
typedef struct ec_reader ec_reader;
int ec_reader_open(ec_reader **out, FILE *in, const char *name, ec_file_format fmt);
ec_hash_alg ec_reader_alg(const ec_reader *r);
/* Number of events when known in advance (whole documents), else 0. */
uint64_t ec_reader_hint(const ec_reader *r);
/* Next record (valid until the next call); EC_ITEROVER at the end. */
int ec_reader_next(ec_reader *r, const uint8_t **rec, size_t *len);
void ec_reader_free(ec_reader *r);

/* 1 (default): JSONL lines in the writer's exact form skip jansson. Tests and fuzzing set
 * 0 to compare both paths. */
extern int ec_jsonl_fast;
/* 1 (default): a JSON document whose header comes first is streamed element by element;
 * 0: always parsed whole (tests and fuzzing compare both). */
extern int ec_json_stream;

/* Load a stream into a new memory-backed chain: verified as read (refused at the first bad
 * seq, *vout filled) unless inspect, then records are stored as they are. */
int ec_interchange_open(ec_chain **out, FILE *in, const char *name, ec_file_format fmt, int inspect,
                        ec_verify_result *vout);

/* Theater writer body (array of events), called by ec_export_stream. */
int ec_theater_write(ec_chain *chain, ec_wbuf *w, const ec_export_options *opts);

#endif
