/* tests/test_http_codec.c: the HTTP payload codec against the vectors of docs/FORMAT.md
 * section 7 (tests/vectors/http.txt, made by docs/http_vectors.py from the spec alone),
 * strict decoding of every truncation and mutation, field rules, and the JSON rendering. */
#include <evchain/http.h>
#include "test.h"

#define H(n, v)                                                                                    \
    {                                                                                              \
        n, sizeof n - 1, v, sizeof v - 1                                                           \
    }

static const ec_http_header req_h[] = {H("Host", "127.0.0.1:8080"),
                                       H("Accept", "application/json")};
static const ec_http_header resp_h[] = {H("Content-Type", "application/json")};
static const ec_http_header ref_h[] = {H("Host", "a"), H("Content-Length", "2000000")};
static const ec_http_header creq_h[] = {H("Content-Type", "text/plain")};
static const ec_http_header bin_h[] = {H("X-Empty", ""), H("X-Latin1", "caf\xe9")};
static const char ref_reason[] =
    "413 Payload Too Large: body of 2000000 bytes over the limit of 1048576 bytes";
static const char cerr_msg[] =
    "host example.com port 80 is not on the allow-list: nothing was sent";

/* The messages the vectors encode, in the order of tests/vectors/http.txt. */
static void vector_msgs(ec_http_msg m[6])
{
    memset(m, 0, 6 * sizeof *m);
    m[0] = (ec_http_msg){.kind = EC_HTTP_REQUEST,
                         .method = "GET",
                         .method_len = 3,
                         .target = "/kv/greeting?lang=en",
                         .target_len = 20,
                         .headers = req_h,
                         .header_count = 2};
    m[1] = (ec_http_msg){.kind = EC_HTTP_RESPONSE,
                         .status = 201,
                         .headers = resp_h,
                         .header_count = 1,
                         .body = (const uint8_t *)"{\"ok\":true}",
                         .body_len = 11};
    m[2] = (ec_http_msg){.kind = EC_HTTP_REFUSAL,
                         .status = 413,
                         .reason = ref_reason,
                         .reason_len = sizeof ref_reason - 1,
                         .method = "POST",
                         .method_len = 4,
                         .target = "/upload",
                         .target_len = 7,
                         .headers = ref_h,
                         .header_count = 2};
    m[3] = (ec_http_msg){.kind = EC_HTTP_CLIENT_REQUEST,
                         .method = "POST",
                         .method_len = 4,
                         .target = "http://127.0.0.1:9000/sum",
                         .target_len = 25,
                         .headers = creq_h,
                         .header_count = 1,
                         .body = (const uint8_t *)"1 2 3",
                         .body_len = 5};
    m[4] = (ec_http_msg){.kind = EC_HTTP_CLIENT_ERROR,
                         .error = EC_HTTP_ERR_DENIED,
                         .reason = cerr_msg,
                         .reason_len = sizeof cerr_msg - 1};
    m[5] = (ec_http_msg){.kind = EC_HTTP_RESPONSE,
                         .status = 200,
                         .headers = bin_h,
                         .header_count = 2,
                         .body = (const uint8_t *)"\x00\x01\x02\xff",
                         .body_len = 4};
}

typedef struct vec {
    char name[32];
    uint8_t bytes[512];
    size_t len;
} vec;

static int load_vectors(vec v[6])
{
    FILE *f = fopen("tests/vectors/http.txt", "r");
    if (!f)
        return -1;
    char line[2048];
    int n = 0;
    while (n < 6 && fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        char hex[1200];
        if (sscanf(line, "%31s %1199s", v[n].name, hex) != 2)
            break;
        size_t hl = strlen(hex);
        v[n].len = hl / 2;
        if (ec_hex_decode(v[n].bytes, v[n].len, hex, hl))
            break;
        n++;
    }
    fclose(f);
    return n == 6 ? 0 : -1;
}

static int msg_eq(const ec_http_msg *a, const ec_http_msg *b)
{
#define SEQ(p, n, q, m) ((n) == (m) && ((n) == 0 || memcmp(p, q, n) == 0))
    if (a->kind != b->kind || a->header_count != b->header_count)
        return 0;
    if (a->kind == EC_HTTP_RESPONSE || a->kind == EC_HTTP_REFUSAL)
        if (a->status != b->status)
            return 0;
    if (a->kind == EC_HTTP_CLIENT_ERROR && a->error != b->error)
        return 0;
    if (!SEQ(a->method, a->method_len, b->method, b->method_len) ||
        !SEQ(a->target, a->target_len, b->target, b->target_len) ||
        !SEQ(a->reason, a->reason_len, b->reason, b->reason_len) ||
        !SEQ(a->body, a->body_len, b->body, b->body_len))
        return 0;
    for (size_t i = 0; i < a->header_count; i++)
        if (!SEQ(a->headers[i].name, a->headers[i].name_len, b->headers[i].name,
                 b->headers[i].name_len) ||
            !SEQ(a->headers[i].value, a->headers[i].value_len, b->headers[i].value,
                 b->headers[i].value_len))
            return 0;
    return 1;
#undef SEQ
}

static void vectors_encode_decode(void)
{
    vec v[6];
    ec_http_msg m[6];
    REQUIRE_OK(load_vectors(v));
    vector_msgs(m);
    for (int i = 0; i < 6; i++) {
        uint8_t buf[512];
        size_t n = 0, sz = 0;
        CHECK_OK(ec_http_encoded_size(&m[i], &sz));
        CHECK_OK(ec_http_encode(&m[i], buf, sizeof buf, &n));
        CHECK(n == sz);
        CHECK(n == v[i].len && memcmp(buf, v[i].bytes, n) == 0);
        ec_http_msg d;
        REQUIRE_OK(ec_http_decode(&d, v[i].bytes, v[i].len));
        CHECK(msg_eq(&d, &m[i]));
        ec_http_msg_clear(&d);
        /* A buffer one byte short is refused, not overrun. */
        CHECK(ec_http_encode(&m[i], buf, sz - 1, &n) == EC_EINVAL);
    }
    uint8_t *p = NULL;
    size_t pl = 0;
    REQUIRE_OK(ec_http_encode_alloc(&m[3], &p, &pl));
    CHECK(pl == v[3].len && memcmp(p, v[3].bytes, pl) == 0);
    free(p);
}

/* Every strict prefix and the vector plus one byte are refused; every single-byte change
 * either is refused or decodes to a message that encodes back to exactly those bytes (one
 * message, one encoding). */
static void truncations_and_mutations(void)
{
    vec v[6];
    REQUIRE_OK(load_vectors(v));
    for (int i = 0; i < 6; i++) {
        ec_http_msg d;
        for (size_t n = 0; n < v[i].len; n++) {
            int rc = ec_http_decode(&d, v[i].bytes, n);
            CHECK(rc == EC_EFORMAT);
            if (rc == 0)
                ec_http_msg_clear(&d);
        }
        uint8_t longer[513];
        memcpy(longer, v[i].bytes, v[i].len);
        longer[v[i].len] = 0;
        CHECK(ec_http_decode(&d, longer, v[i].len + 1) == EC_EFORMAT);
        const ec_error *e = ec_error_last();
        CHECK(e && strstr(e->message, "trailing bytes"));
        for (size_t at = 0; at < v[i].len; at++) {
            static const uint8_t flips[] = {0x01, 0x80, 0xff, 0x20};
            for (size_t f = 0; f < sizeof flips; f++) {
                uint8_t mut[512];
                memcpy(mut, v[i].bytes, v[i].len);
                mut[at] ^= flips[f];
                if (ec_http_decode(&d, mut, v[i].len) != 0)
                    continue;
                uint8_t re[512];
                size_t rl = 0;
                CHECK(ec_http_encode(&d, re, sizeof re, &rl) == 0);
                CHECK(rl == v[i].len && memcmp(re, mut, rl) == 0);
                ec_http_msg_clear(&d);
            }
        }
    }
}

static int decode_fails_with(const uint8_t *b, size_t n, const char *needle)
{
    ec_http_msg d;
    int rc = ec_http_decode(&d, b, n);
    if (rc == 0) {
        ec_http_msg_clear(&d);
        return 0;
    }
    const ec_error *e = ec_error_last();
    if (rc != EC_EFORMAT || !e || !strstr(e->message, needle)) {
        fprintf(stderr, "  expected \"%s\", got: %s\n", needle, e ? e->message : "(none)");
        return 0;
    }
    return 1;
}

static void strict_fields(void)
{
    vec v[6];
    REQUIRE_OK(load_vectors(v));
    uint8_t b[512];
#define MUT(i, off, val) (memcpy(b, v[i].bytes, v[i].len), b[off] = (uint8_t)(val), b)
    CHECK(decode_fails_with(MUT(0, 0, 'E'), v[0].len, "magic"));
    CHECK(decode_fails_with(MUT(0, 6, 2), v[0].len, "version"));
    CHECK(decode_fails_with(MUT(0, 7, 6), v[0].len, "kind"));
    CHECK(decode_fails_with(MUT(0, 7, 0), v[0].len, "kind"));
    /* request: method "GET" at 12..14, target length at 15, target at 19 */
    CHECK(decode_fails_with(MUT(0, 13, ' '), v[0].len, "method"));
    CHECK(decode_fails_with(MUT(0, 19, 'x'), v[0].len, "target"));
    CHECK(decode_fails_with(MUT(0, 20, 0x7f), v[0].len, "target"));
    /* header count at 39: a huge count is refused before any allocation */
    memcpy(b, v[0].bytes, v[0].len);
    b[39] = 0xff;
    CHECK(decode_fails_with(b, v[0].len, "header count"));
    memcpy(b, v[0].bytes, v[0].len);
    b[41] = 0x01; /* 257 fields */
    CHECK(decode_fails_with(b, v[0].len, "header count"));
    /* first header name "Host" at 47 */
    CHECK(decode_fails_with(MUT(0, 47, ':'), v[0].len, "header name"));
    /* its value "127.0.0.1:8080" at 55: CR inside, blank at the start */
    CHECK(decode_fails_with(MUT(0, 58, '\r'), v[0].len, "header value"));
    CHECK(decode_fails_with(MUT(0, 55, ' '), v[0].len, "header value"));
    /* response status at 8..9 */
    memcpy(b, v[1].bytes, v[1].len);
    b[8] = 0;
    b[9] = 99;
    CHECK(decode_fails_with(b, v[1].len, "status"));
    memcpy(b, v[1].bytes, v[1].len);
    b[8] = 0x02;
    b[9] = 0x58; /* 600 */
    CHECK(decode_fails_with(b, v[1].len, "status"));
    /* refusal reason at 14: invalid UTF-8 */
    CHECK(decode_fails_with(MUT(2, 14, 0xc3), v[2].len, "reason"));
    /* client request URL must be http(s) */
    CHECK(decode_fails_with(MUT(3, 20, 'f'), v[3].len, "url"));
    /* client error kind at 8 */
    CHECK(decode_fails_with(MUT(4, 8, 7), v[4].len, "error kind"));
    CHECK(decode_fails_with(MUT(4, 8, 0), v[4].len, "error kind"));
    /* a body length past the end */
    memcpy(b, v[1].bytes, v[1].len);
    b[v[1].len - 15] = 0x01; /* the most significant byte of the body length */
    CHECK(decode_fails_with(b, v[1].len, "body"));
    CHECK(decode_fails_with(NULL, 0, "header"));
#undef MUT
}

static int encode_fails_with(const ec_http_msg *m, const char *needle)
{
    size_t n;
    uint8_t buf[256];
    int rc = ec_http_encode(m, buf, sizeof buf, &n);
    const ec_error *e = ec_error_last();
    if (rc != EC_EINVAL || !e || !strstr(e->message, needle)) {
        fprintf(stderr, "  expected \"%s\", got rc %d: %s\n", needle, rc, e ? e->message : "");
        return 0;
    }
    return 1;
}

static void encoder_rules(void)
{
    ec_http_msg m[6], x;
    vector_msgs(m);
    x = m[0];
    x.method_len = 0;
    CHECK(encode_fails_with(&x, "method"));
    x = m[0];
    x.method = "GE T";
    x.method_len = 4;
    CHECK(encode_fails_with(&x, "method"));
    x = m[0];
    x.target = "kv";
    x.target_len = 2;
    CHECK(encode_fails_with(&x, "target"));
    x = m[0];
    x.target = "/a b";
    x.target_len = 4;
    CHECK(encode_fails_with(&x, "target"));
    x = m[3];
    x.target = "file:///etc/passwd";
    x.target_len = 18;
    CHECK(encode_fails_with(&x, "url"));
    /* The scheme is case-insensitive (RFC 3986 3.1); the URL is kept byte for byte. */
    const char *const mixed[] = {"HTTP://127.0.0.1:9000/sum", "hTtPs://example.com/"};
    for (size_t k = 0; k < 2; k++) {
        x = m[3];
        x.target = mixed[k];
        x.target_len = strlen(mixed[k]);
        uint8_t *enc = NULL;
        size_t enc_len = 0;
        ec_http_msg back;
        REQUIRE_OK(ec_http_encode_alloc(&x, &enc, &enc_len));
        REQUIRE_OK(ec_http_decode(&back, enc, enc_len));
        CHECK(back.target_len == x.target_len && memcmp(back.target, mixed[k], x.target_len) == 0);
        ec_http_msg_clear(&back);
        free(enc);
    }
    x = m[3];
    x.target = "HTTPS:/x.example/";
    x.target_len = strlen(x.target);
    CHECK(encode_fails_with(&x, "url"));
    x = m[1];
    x.status = 600;
    CHECK(encode_fails_with(&x, "status"));
    ec_http_header bad[] = {H("Bad Name", "v")}, badv[] = {H("X", "a\nb")},
                   trail[] = {H("X", "a ")};
    x = m[1];
    x.headers = bad;
    x.header_count = 1;
    CHECK(encode_fails_with(&x, "header 0: name"));
    x.headers = badv;
    CHECK(encode_fails_with(&x, "header 0 (X): value"));
    x.headers = trail;
    CHECK(encode_fails_with(&x, "value"));
    x = m[1];
    x.header_count = EC_HTTP_HEADERS_MAX + 1;
    CHECK(encode_fails_with(&x, "header fields"));
    x = m[4];
    x.error = EC_HTTP_ERR_NONE;
    CHECK(encode_fails_with(&x, "error kind"));
    x = m[2];
    x.reason = "\xff";
    x.reason_len = 1;
    CHECK(encode_fails_with(&x, "reason"));
    x = m[1];
    x.kind = (ec_http_kind)9;
    CHECK(encode_fails_with(&x, "unknown kind"));
    /* A refusal may have an empty method and target (the request was unreadable). */
    x = m[2];
    x.method_len = 0;
    x.target_len = 0;
    x.header_count = 0;
    size_t n;
    CHECK_OK(ec_http_encoded_size(&x, &n));
    CHECK(n == 8 + 2 + 4 + x.reason_len + 4 + 4 + 4);
}

static void json_rendering(void)
{
    vec v[6];
    REQUIRE_OK(load_vectors(v));
    char *j = NULL;
    REQUIRE_OK(ec_http_to_json(v[0].bytes, v[0].len, &j));
    CHECK(strcmp(j, "{\"http\":\"request\",\"method\":\"GET\",\"target\":\"/kv/greeting?lang=en\","
                    "\"path\":\"/kv/greeting\",\"query\":\"lang=en\",\"headers\":[{\"name\":"
                    "\"Host\",\"value\":\"127.0.0.1:8080\"},{\"name\":\"Accept\",\"value\":"
                    "\"application/json\"}],\"body\":\"\"}") == 0);
    free(j);
    REQUIRE_OK(ec_http_to_json(v[5].bytes, v[5].len, &j));
    CHECK(strcmp(j, "{\"http\":\"response\",\"status\":200,\"headers\":[{\"name\":\"X-Empty\","
                    "\"value\":\"\"},{\"name\":\"X-Latin1\",\"value_base64\":\"Y2Fm6Q==\"}],"
                    "\"body_base64\":\"AAEC/w==\"}") == 0);
    free(j);
    REQUIRE_OK(ec_http_to_json(v[4].bytes, v[4].len, &j));
    CHECK(strstr(j, "\"error\":\"denied\"") != NULL);
    free(j);
    REQUIRE_OK(ec_http_to_json(v[2].bytes, v[2].len, &j));
    CHECK(strstr(j, "\"status\":413") && strstr(j, "\"query\":null") && !strstr(j, "\"body"));
    free(j);
    CHECK(ec_http_to_json(v[2].bytes, 9, &j) == EC_EFORMAT);
}

static void target_split(void)
{
    const char *p, *q;
    size_t pl, ql;
    ec_http_target_split("/a/b?x=1?y", 10, &p, &pl, &q, &ql);
    CHECK(pl == 4 && memcmp(p, "/a/b", 4) == 0 && q && ql == 5 && memcmp(q, "x=1?y", 5) == 0);
    ec_http_target_split("/a", 2, &p, &pl, &q, &ql);
    CHECK(pl == 2 && q == NULL && ql == 0);
    ec_http_target_split("/a?", 3, &p, &pl, &q, &ql);
    CHECK(pl == 2 && q != NULL && ql == 0); /* an empty query is not an absent one */
    CHECK(strcmp(ec_http_error_name(EC_HTTP_ERR_TOO_LARGE), "too-large") == 0);
    CHECK(ec_http_error_name((ec_http_error)0) == NULL);
}

static void big_body_roundtrip(void)
{
    size_t n = 3u << 20;
    uint8_t *body = malloc(n);
    REQUIRE(body);
    for (size_t i = 0; i < n; i++)
        body[i] = (uint8_t)(i * 31);
    ec_http_msg m = {.kind = EC_HTTP_RESPONSE, .status = 200, .body = body, .body_len = n};
    uint8_t *enc = NULL;
    size_t el = 0;
    REQUIRE_OK(ec_http_encode_alloc(&m, &enc, &el));
    ec_http_msg d;
    CHECK_OK(ec_http_decode(&d, enc, el));
    CHECK(d.body_len == n && memcmp(d.body, body, n) == 0);
    ec_http_msg_clear(&d);
    m.body_len = (size_t)EC_HTTP_BODY_MAX + 1;
    CHECK(ec_http_encoded_size(&m, &el) == EC_EINVAL);
    free(enc);
    free(body);
}

int main(void)
{
    RUN(vectors_encode_decode);
    RUN(truncations_and_mutations);
    RUN(strict_fields);
    RUN(encoder_rules);
    RUN(json_rendering);
    RUN(target_split);
    RUN(big_body_roundtrip);
    TEST_END();
}
