/* tests/test_json.c: JSON and JSONL interchange (FORMAT.md section 2): lossless round trips,
 * u64 edge values, format detection, tamper reports, every kind of bad input, atomic file
 * export, and the example vector in tests/vectors/json/. */
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
#include "test.h"
#include "store/interchange.h"

static char tmpdir[] = "/tmp/evchain_test_json_XXXXXX";

/* Events at every edge the JSON form has to carry: absent vs empty description, control
 * characters, quotes, NUL in a description, non-ASCII, empty and binary data, and u64
 * timestamps on both sides of 2^63. */
static int fill_edges(ec_chain *c)
{
    static const char desc_nul[] = {'a', 0, 'b'};
    uint8_t bin[256];
    for (int i = 0; i < 256; i++)
        bin[i] = (uint8_t)i;
    ec_event_input in[] = {
        {.type = "start", .data = "{\"k\":1}", .data_len = 7, .timestamp = 1},
        {.type = "q\"uote\\back\nline\t\x01", .description = "", .timestamp = 2},
        {.type = "r\xc3\xa9sum\xc3\xa9/\xf0\x9f\x98\x80",
         .description = desc_nul,
         .description_len = 3,
         .data = bin,
         .data_len = 256,
         .timestamp = (1ull << 63) - 1},
        {.type = "big",
         .description = "ts 2^63",
         .data = "x",
         .data_len = 1,
         .timestamp = 1ull << 63},
        {.type = "max", .data = bin, .data_len = 2, .timestamp = UINT64_MAX},
    };
    for (size_t k = 0; k < sizeof in / sizeof *in; k++)
        if (ec_chain_append(c, &in[k], NULL, NULL))
            return -1;
    return 0;
}

/* Export to a malloc'd buffer. */
static char *export_buf(ec_chain *c, ec_file_format fmt, size_t *len, int *rc)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        return NULL;
    ec_export_options o = EC_EXPORT_OPTIONS_INIT;
    o.format = fmt;
    *rc = ec_export_stream(c, f, &o);
    fclose(f);
    return buf;
}

static int write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(p, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

/* Load text as a chain file through ec_chain_open_path (so detection runs too). */
static int load_text(const char *text, size_t len, int inspect, ec_chain **out,
                     ec_verify_result *vr)
{
    char path[128];
    snprintf(path, sizeof path, "%s/in.json", tmpdir);
    if (write_file(path, text, len))
        return -100;
    ec_open_options o = EC_OPEN_OPTIONS_INIT;
    o.inspect = inspect;
    o.verify_out = vr;
    *out = NULL;
    int rc = ec_chain_open_path(out, path, &o);
    unlink(path);
    return rc;
}

static int same_events(ec_chain *a, ec_chain *b)
{
    if (ec_chain_count(a) != ec_chain_count(b) || ec_chain_alg(a) != ec_chain_alg(b))
        return 0;
    for (uint64_t s = 0; s < ec_chain_count(a); s++) {
        ec_backend *ba = ec_chain_backend(a), *bb = ec_chain_backend(b);
        const uint8_t *ra, *rb;
        size_t la, lb;
        if (ba->get(ba, s, &ra, &la) || bb->get(bb, s, &rb, &lb))
            return 0;
        if (la != lb || memcmp(ra, rb, la) != 0)
            return 0;
    }
    return 1;
}

/* theater-sha1 events carry no timestamp or description (FORMAT.md 3). */
static int fill_theater(ec_chain *c)
{
    ec_event_input in[] = {
        {.type = "wasm", .data = "{\"k\":1}", .data_len = 7},
        {.type = "q\"uote\\back\nline\t\x01\x7f"},
        {.type = "r\xc3\xa9sum\xc3\xa9/\xf0\x9f\x98\x80", .data = "\x00\xff", .data_len = 2},
    };
    for (size_t k = 0; k < sizeof in / sizeof *in; k++)
        if (ec_chain_append(c, &in[k], NULL, NULL))
            return -1;
    return 0;
}

static void roundtrip(ec_hash_alg alg, ec_file_format fmt)
{
    ec_chain *c = test_memory_chain(alg);
    REQUIRE(c);
    REQUIRE_OK(alg == EC_HASH_THEATER_SHA1 ? fill_theater(c) : fill_edges(c));
    size_t len;
    int rc;
    char *text = export_buf(c, fmt, &len, &rc);
    REQUIRE(text);
    CHECK_OK(rc);
    ec_chain *d;
    ec_verify_result vr;
    rc = load_text(text, len, 0, &d, &vr);
    CHECK_OK(rc);
    if (rc == 0) {
        CHECK(same_events(c, d)); /* byte-identical records: hashes, fields, flags */
        size_t len2;
        char *again = export_buf(d, fmt, &len2, &rc);
        CHECK(again && len2 == len && memcmp(again, text, len) == 0);
        free(again);
        ec_verify_result r2;
        CHECK_OK(ec_chain_verify(d, NULL, &r2));
        ec_chain_free(d);
    }
    /* also through ec_import_stream into an open chain */
    ec_chain *e = test_memory_chain(alg);
    FILE *f = fmemopen(text, len, "r");
    REQUIRE(e && f);
    CHECK_OK(ec_import_stream(e, f, "mem", EC_FORMAT_AUTO, 0, NULL));
    fclose(f);
    CHECK(same_events(c, e));
    ec_chain_free(e);
    free(text);
    ec_chain_free(c);
}

static void roundtrip_json_sha256(void)
{
    roundtrip(EC_HASH_SHA256, EC_FORMAT_JSON);
}
static void roundtrip_jsonl_sha256(void)
{
    roundtrip(EC_HASH_SHA256, EC_FORMAT_JSONL);
}
static void roundtrip_json_sha1(void)
{
    roundtrip(EC_HASH_SHA1, EC_FORMAT_JSON);
}
static void roundtrip_jsonl_theater(void)
{
    roundtrip(EC_HASH_THEATER_SHA1, EC_FORMAT_JSONL);
}

/* JSONL lines in the writer's exact form take a fast path that skips jansson; every other
 * layout of the same values goes through jansson. Both must give the same records. */
static void fast_and_slow_agree(void)
{
    ec_chain *c = test_memory_chain(0);
    REQUIRE(c);
    REQUIRE_OK(fill_edges(c));
    size_t len;
    int rc;
    char *text = export_buf(c, EC_FORMAT_JSONL, &len, &rc);
    REQUIRE(text);
    ec_chain *fast = NULL, *slow = NULL;
    ec_jsonl_fast = 0;
    CHECK_OK(load_text(text, len, 0, &slow, NULL));
    ec_jsonl_fast = 1;
    CHECK_OK(load_text(text, len, 0, &fast, NULL));
    CHECK(fast && slow && same_events(fast, slow) && same_events(c, fast));
    ec_chain_free(fast);
    ec_chain_free(slow);
    /* the same first event with keys reordered, spaces, escapes and a quoted seq: only
     * jansson reads it, to the same record */
    char *l1 = strchr(text, '\n') + 1, *l1end = strchr(l1, '\n');
    char hash[65];
    REQUIRE(l1end && strstr(l1, "\"hash\":\""));
    memcpy(hash, strstr(l1, "\"hash\":\"") + 8, 64);
    hash[64] = 0;
    char other[512];
    int n = snprintf(other, sizeof other,
                     "{\"evchain\":1,\"hash_alg\":\"sha256\"}\n"
                     "{ \"data\" : \"eyJrIjoxfQ==\", \"seq\":\"0\", \"hash\":\"%s\", "
                     "\"timestamp\":1, \"description\":null, \"parent_hash\":null, "
                     "\"event_type\":\"\\u0073tart\" }\n",
                     hash);
    ec_chain *d = NULL;
    CHECK_OK(load_text(other, (size_t)n, 0, &d, NULL));
    if (d) {
        ec_backend *ba = ec_chain_backend(c), *bb = ec_chain_backend(d);
        const uint8_t *ra, *rb;
        size_t la, lb;
        CHECK(ec_chain_count(d) == 1);
        CHECK(ba->get(ba, 0, &ra, &la) == 0 && bb->get(bb, 0, &rb, &lb) == 0 && la == lb &&
              memcmp(ra, rb, la) == 0);
        ec_chain_free(d);
    }
    free(text);
    ec_chain_free(c);
}

/* A JSON document whose header comes first is streamed element by element; any other
 * layout is parsed whole. Both give the same chain, pretty-printed or not. */
static void json_layouts(void)
{
    ec_chain *c = test_memory_chain(0);
    REQUIRE(c);
    REQUIRE_OK(fill_edges(c));
    size_t len;
    int rc;
    char *text = export_buf(c, EC_FORMAT_JSON, &len, &rc);
    REQUIRE(text);
    /* the writer's form, streamed */
    ec_chain *d = NULL;
    CHECK_OK(load_text(text, len, 0, &d, NULL));
    CHECK(d && same_events(c, d));
    ec_chain_free(d);
    /* "events" moved first: parsed whole by jansson */
    const char *hdr = "{\"evchain\":1,\"hash_alg\":\"sha256\",\"events\":";
    size_t hl = strlen(hdr);
    REQUIRE(len > hl + 3 && memcmp(text, hdr, hl) == 0);
    char *moved = malloc(len + 64);
    REQUIRE(moved);
    int n = sprintf(moved, "{\"events\":");
    memcpy(moved + n, text + hl, len - hl - 2); /* the array, without "}\n" */
    n += (int)(len - hl - 2);
    n += sprintf(moved + n, ",\"hash_alg\":\"sha256\",\"evchain\":1}");
    CHECK_OK(load_text(moved, (size_t)n, 0, &d, NULL));
    CHECK(d && same_events(c, d));
    ec_chain_free(d);
    /* pretty-printed with the header keys swapped and whitespace everywhere: streamed */
    json_error_t err;
    json_t *j = json_loadb(text, len, JSON_ALLOW_NUL, &err);
    REQUIRE(j);
    json_t *ordered = json_object();
    json_object_set(ordered, "hash_alg", json_object_get(j, "hash_alg"));
    json_object_set(ordered, "evchain", json_object_get(j, "evchain"));
    json_object_set(ordered, "events", json_object_get(j, "events"));
    char *pretty = json_dumps(ordered, JSON_INDENT(3) | JSON_PRESERVE_ORDER);
    REQUIRE(pretty);
    CHECK(strncmp(pretty, "{\n   \"hash_alg\": \"sha256\",\n   \"evchain\": 1,", 40) == 0);
    CHECK_OK(load_text(pretty, strlen(pretty), 0, &d, NULL));
    CHECK(d && same_events(c, d));
    ec_chain_free(d);
    /* and the tampered form is caught in the streamed path too, at the right seq */
    char *t = strstr(pretty, "\"seq\": 3");
    REQUIRE(t);
    t = strstr(t, "\"data\": \"");
    REQUIRE(t);
    t[9] = t[9] == 'A' ? 'B' : 'A';
    ec_verify_result vr;
    memset(&vr, 0, sizeof vr);
    CHECK(load_text(pretty, strlen(pretty), 0, &d, &vr) == EC_EVERIFY);
    CHECK(vr.seq == 3);
    free(pretty);
    json_decref(ordered);
    json_decref(j);
    free(moved);
    free(text);
    ec_chain_free(c);
}

static void u64_forms(void)
{
    ec_chain *c = test_memory_chain(0);
    REQUIRE(c);
    REQUIRE_OK(fill_edges(c));
    size_t len;
    int rc;
    char *text = export_buf(c, EC_FORMAT_JSONL, &len, &rc);
    REQUIRE(text);
    CHECK(strstr(text, "\"timestamp\":9223372036854775807,"));      /* 2^63-1: number */
    CHECK(strstr(text, "\"timestamp\":\"9223372036854775808\","));  /* 2^63: string */
    CHECK(strstr(text, "\"timestamp\":\"18446744073709551615\",")); /* 2^64-1 */
    CHECK(strstr(text, "\"description\":\"a\\u0000b\""));
    CHECK(strstr(text, "\"event_type\":\"q\\\"uote\\\\back\\nline\\t\\u0001\""));
    CHECK(strstr(text, "\"description\":\"\",")); /* empty is not absent */
    CHECK(strncmp(text, "{\"evchain\":1,\"hash_alg\":\"sha256\"}\n", 34) == 0);
    /* Reading accepts a string for small values and a number for seq. */
    ec_chain *d;
    const char *small = "{\"evchain\":\"1\",\"hash_alg\":\"sha256\"}\n";
    CHECK_OK(load_text(small, strlen(small), 0, &d, NULL));
    ec_chain_free(d);
    free(text);
    ec_chain_free(c);
}

static void detect(void)
{
    struct {
        const char *text;
        ec_file_format want;
    } cases[] = {
        {"{\"evchain\":1,\"hash_alg\":\"sha256\",\"events\":[\n]}\n", EC_FORMAT_JSON},
        {"{\"evchain\":1,\"hash_alg\":\"sha256\",\"events\":[]}", EC_FORMAT_JSON},
        {"\n  {\n  \"evchain\": 1,\n  \"hash_alg\": \"sha256\",\n  \"events\": []\n}\n",
         EC_FORMAT_JSON},
        {"{\"evchain\":1,\"hash_alg\":\"sha256\"}\n{\"seq\":0}\n", EC_FORMAT_JSONL},
        {"{\"evchain\":1,\"hash_alg\":\"sha256\"}", EC_FORMAT_JSONL},
        {" \t\r\n[\n]", EC_FORMAT_THEATER},
    };
    char path[128];
    snprintf(path, sizeof path, "%s/detect", tmpdir);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        ec_file_format f = EC_FORMAT_AUTO;
        REQUIRE_OK(write_file(path, cases[k].text, strlen(cases[k].text)));
        CHECK_OK(ec_format_detect(&f, path));
        CHECK(f == cases[k].want);
    }
    ec_file_format f;
    REQUIRE_OK(write_file(path, "", 0));
    CHECK(ec_format_detect(&f, path) == EC_EFORMAT);
    CHECK(strstr(ec_error_last()->message, "empty file"));
    REQUIRE_OK(write_file(path, "  hello", 7));
    CHECK(ec_format_detect(&f, path) == EC_EFORMAT);
    CHECK(strstr(ec_error_last()->message, "byte 2"));
    unlink(path);
    CHECK_OK(ec_format_detect(&f, tmpdir));
    CHECK(f == EC_FORMAT_DIR);
    CHECK(ec_format_detect(&f, "/nonexistent/evchain/x.json") == EC_ENOTFOUND);
    CHECK(strstr(ec_error_last()->message, "/nonexistent/evchain/x.json"));
    /* names */
    CHECK(strcmp(ec_format_name(EC_FORMAT_JSONL), "jsonl") == 0);
    CHECK_OK(ec_format_from_name(&f, "theater"));
    CHECK(f == EC_FORMAT_THEATER);
    CHECK(ec_format_from_name(&f, "xml") == EC_EUNSUPPORTED);
    CHECK(ec_format_name((ec_file_format)99) == NULL);
}

/* Change one base64 character of event `seq`'s data in an export. */
static void tamper_data(char *text, uint64_t seq)
{
    char key[64];
    snprintf(key, sizeof key, "{\"seq\":%llu,", (unsigned long long)seq);
    char *ev = strstr(text, key);
    char *d = ev ? strstr(ev, "\"data\":\"") : NULL;
    if (d) {
        d += 8;
        *d = *d == 'A' ? 'B' : 'A';
    }
}

static void tampered(void)
{
    ec_chain *c = test_memory_chain(0);
    REQUIRE(c);
    for (int i = 0; i < 20; i++) {
        ec_event_input in = {.type = "t", .data = "payload", .data_len = 7, .timestamp = 5};
        REQUIRE_OK(ec_chain_append(c, &in, NULL, NULL));
    }
    for (int fmt = EC_FORMAT_JSON; fmt <= EC_FORMAT_JSONL; fmt++) {
        size_t len;
        int rc;
        char *text = export_buf(c, (ec_file_format)fmt, &len, &rc);
        REQUIRE(text);
        tamper_data(text, 13);
        ec_chain *d;
        ec_verify_result vr;
        memset(&vr, 0, sizeof vr);
        CHECK(load_text(text, len, 0, &d, &vr) == EC_EVERIFY);
        CHECK(vr.seq == 13 && vr.status == EC_VERIFY_HASH_MISMATCH);
        CHECK(strstr(ec_error_last()->message, "in.json: event 13:"));
        /* inspection loads it as it is; verification finds the same seq */
        REQUIRE_OK(load_text(text, len, 1, &d, NULL));
        CHECK(ec_chain_count(d) == 20);
        memset(&vr, 0, sizeof vr);
        CHECK(ec_chain_verify(d, NULL, &vr) == EC_EVERIFY);
        CHECK(vr.seq == 13 && vr.status == EC_VERIFY_HASH_MISMATCH);
        ec_chain_free(d);
        /* through ec_import_stream: refused at 13 with the first 13 kept */
        ec_chain *e = test_memory_chain(0);
        FILE *f = fmemopen(text, len, "r");
        memset(&vr, 0, sizeof vr);
        CHECK(ec_import_stream(e, f, "mem", EC_FORMAT_AUTO, 0, &vr) == EC_EVERIFY);
        CHECK(vr.seq == 13 && ec_chain_count(e) == 13);
        rewind(f);
        CHECK(ec_import_stream(e, f, "mem", EC_FORMAT_AUTO, 1, NULL) == EC_EUNSUPPORTED);
        fclose(f);
        ec_chain_free(e);
        free(text);
    }
    ec_chain_free(c);
}

#define H64     "0000000000000000000000000000000000000000000000000000000000000000"
#define HDR     "{\"evchain\":1,\"hash_alg\":\"sha256\"}\n"
#define EV_HEAD "{\"seq\":0,\"hash\":\"" H64 "\",\"parent_hash\":null,\"event_type\":\"t\","

/* event 0 of tests/vectors/json/example.jsonl: valid, so a reader goes past it */
#define EXAMPLE_EV0                                                                                \
    "{\"seq\":0,\"hash\":\"cbf41e2dcc4389d89b87db9cec11a472a91ea7c6dcd1b0b5ee55ed26e9a4080c\","    \
    "\"parent_hash\":null,\"event_type\":\"greeting\",\"timestamp\":1700000000000000000,"          \
    "\"description\":\"first\",\"data\":\"aGVsbG8=\"}"

static void bad_inputs(void)
{
    struct {
        const char *text;
        int code;
        const char *msg; /* substring of the error */
    } cases[] = {
        {"{\"evchain\":1,\"hash_alg\":\"sha256\",\"events\":[\n{\"seq\":0", EC_EFORMAT,
         "in.json: byte 52 (event 0): the file ends inside an event"},
        {"{\"events\":[\n{\"seq\":0,\"hash_alg\":\"sha256\",\"evchain\":1", EC_EFORMAT,
         "in.json: line 2, column"}, /* not streamed: jansson names the line */
        {"{\"evchain\":2,\"hash_alg\":\"sha256\",\"events\":[]}", EC_EUNSUPPORTED, "version 2"},
        {"{\"evchain\":1,\"hash_alg\":\"md5\",\"events\":[]}", EC_EUNSUPPORTED, "\"md5\""},
        {"{\"evchain\":1,\"events\":[]}", EC_EFORMAT, "hash_alg"},
        {"{\"evchain\":1,\"hash_alg\":\"sha256\",\"events\":{}}", EC_EFORMAT, "events"},
        {"{\"evchain\":1,\"hash_alg\":\"sha256\",\"extra\":0,\"events\":[]}", EC_EFORMAT,
         "unknown header key \"extra\""},
        {"{\"evchain\":1,\"hash_alg\":\"sha256\",\"events\":[]} trailing", EC_EFORMAT,
         "in.json: byte 46 (event 0): data after the end of the document"},
        {"{\"evchain\":1,\"hash_alg\":\"sha256\",\"events\":[]]", EC_EFORMAT,
         "expected '}' closing the document"},
        {"{\"evchain\":1,\"hash_alg\":\"sha256\",\"events\":[" EXAMPLE_EV0 " {}]}", EC_EFORMAT,
         "(event 1): expected ',' or ']' after an event"},
        {"{\"evchain\":1,\"hash_alg\":\"sha256\",\"events\":[{\"seq\":[}]}", EC_EFORMAT,
         "event 0 (near byte"},
        {"{\"hash_alg\":\"sha256\",\"events\":[],\"evchain\":1} trailing", EC_EFORMAT,
         "in.json: line 1"}, /* not streamed */
        {"{\"evchain\":1,\"hash_alg\":\"sha256\",\"events\":[5]}", EC_EFORMAT,
         "byte 43 (event 0): not a JSON object"},
        {"{\"hash_alg\":\"sha256\",\"events\":[5],\"evchain\":1}", EC_EFORMAT,
         "in.json: event 0: not a JSON object"}, /* not streamed */
        {HDR EV_HEAD "\"timestamp\":1,\"description\":null,\"data\":\"@@@@\"}\n", EC_EFORMAT,
         "line 2 (event 0): data: not valid base64"},
        {HDR EV_HEAD "\"timestamp\":1,\"description\":null,\"data\":\"YQ\"}\n", EC_EFORMAT,
         "data: not valid base64"},
        {HDR EV_HEAD "\"timestamp\":1,\"description\":null,\"data\":5}\n", EC_EFORMAT,
         "data: not a base64 string"},
        {HDR EV_HEAD "\"description\":null,\"data\":\"\"}\n", EC_EFORMAT,
         "missing key \"timestamp\""},
        {HDR EV_HEAD "\"timestamp\":1,\"description\":null,\"data\":\"\",\"x\":1}\n", EC_EFORMAT,
         "unknown key \"x\""},
        {HDR EV_HEAD "\"timestamp\":-1,\"description\":null,\"data\":\"\"}\n", EC_EFORMAT,
         "timestamp: not an unsigned"},
        {HDR EV_HEAD "\"timestamp\":1.5,\"description\":null,\"data\":\"\"}\n", EC_EFORMAT,
         "timestamp: not an unsigned"},
        {HDR EV_HEAD "\"timestamp\":\"12a\",\"description\":null,\"data\":\"\"}\n", EC_EFORMAT,
         "timestamp: not an unsigned"},
        {HDR EV_HEAD "\"timestamp\":\"18446744073709551616\",\"description\":null,\"data\":\"\"}\n",
         EC_EFORMAT, "timestamp: not an unsigned"},
        {HDR EV_HEAD "\"timestamp\":99999999999999999999,\"description\":null,\"data\":\"\"}\n",
         EC_EFORMAT, "line 2, column"},
        {HDR EV_HEAD "\"timestamp\":1,\"description\":7,\"data\":\"\"}\n", EC_EFORMAT,
         "description: neither null nor a string"},
        {HDR EV_HEAD "\"timestamp\":1,\"timestamp\":2,\"description\":null,\"data\":\"\"}\n",
         EC_EFORMAT, "duplicate"},
        {HDR "{\"seq\":0,\"hash\":\"abcd\",\"parent_hash\":null,\"event_type\":\"t\","
             "\"timestamp\":1,\"description\":null,\"data\":\"\"}\n",
         EC_EFORMAT, "hash: expected 64 hex digits (sha256), got 4"},
        {HDR "{\"seq\":0,\"hash\":\"" H64 "\",\"parent_hash\":\"zz" H64 "\",\"event_type\":\"t\","
             "\"timestamp\":1,\"description\":null,\"data\":\"\"}\n",
         EC_EFORMAT, "parent_hash: expected 64"},
        {HDR "{\"seq\":0,\"hash\":\"" H64 "\",\"parent_hash\":null,\"event_type\":\"\","
             "\"timestamp\":1,\"description\":null,\"data\":\"\"}\n",
         EC_EFORMAT, "event_type: length 0"},
        {HDR "{\"seq\":0,\"hash\":\"" H64 "\",\"parent_hash\":null,\"event_type\":\"a\\u0000\","
             "\"timestamp\":1,\"description\":null,\"data\":\"\"}\n",
         EC_EFORMAT, "event_type: contains U+0000"},
        {HDR "{\"seq\":0,\"hash\":\"" H64 "\",\"parent_hash\":null,\"event_type\":[],"
             "\"timestamp\":1,\"description\":null,\"data\":\"\"}\n",
         EC_EFORMAT, "event_type: not a string"},
        {HDR "{\"seq\":\"x\",\"hash\":\"" H64 "\",\"parent_hash\":null,\"event_type\":\"t\","
             "\"timestamp\":1,\"description\":null,\"data\":\"\"}\n",
         EC_EFORMAT, "seq: not an unsigned"},
        {HDR "\n\n{\"seq\":0,\n", EC_EFORMAT, "line 4, column"},
        {HDR "[1]\n", EC_EFORMAT, "line 2 (event 0): not a JSON object"},
        {"{\"evchain\":1,\"hash_alg\":\"sha256\"} {}\n", EC_EFORMAT, "line 1"},
        {"{\"evchain\":1,\"hash_alg\":\"sha256\",\"x\":1}\n", EC_EFORMAT, "unknown header key"},
        {"{\"evchain\":1,\"hash_alg\":\"sha256\"}\n\xff\n", EC_EFORMAT, "line 2"},
        {"\x00\x01", EC_EFORMAT, "expected '{'"},
        {"   ", EC_EFORMAT, "empty file"},
        {HDR EV_HEAD "\"timestamp\":1,\"description\":null,\"data\":\"\"}\n", EC_EVERIFY,
         "event 0: hash mismatch"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        ec_chain *d = NULL;
        size_t n = strlen(cases[k].text);
        if (n == 0 && cases[k].code == EC_EFORMAT && cases[k].msg[0] == 'e')
            n = 2; /* the case starting with a NUL byte */
        int rc = load_text(cases[k].text, n, 0, &d, NULL);
        const ec_error *e = ec_error_last();
        if (rc != cases[k].code || !e || !strstr(e->message, cases[k].msg)) {
            fprintf(stderr, "case %zu: got %s \"%s\", want %s \"%s\"\n", k, ec_error_name(rc),
                    e ? e->message : "", ec_error_name(cases[k].code), cases[k].msg);
            CHECK(0);
        }
        CHECK(d == NULL);
        ec_chain_free(d);
    }
}

/* A single event whose data is one base64 character over the 64 MiB limit: refused before
 * decoding, with the line named. */
static void limits(void)
{
    size_t b64 = (64u << 20) / 3 * 4 + 8;
    const char *pre = HDR EV_HEAD "\"timestamp\":1,\"description\":null,\"data\":\"";
    size_t pl = strlen(pre);
    char *text = malloc(pl + b64 + 3);
    REQUIRE(text);
    memcpy(text, pre, pl);
    memset(text + pl, 'A', b64);
    memcpy(text + pl + b64, "\"}", 3);
    ec_chain *d;
    CHECK(load_text(text, pl + b64 + 2, 0, &d, NULL) == EC_EFORMAT);
    CHECK(strstr(ec_error_last()->message, "line 2 (event 0): data:"));
    CHECK(strstr(ec_error_last()->message, "over the 64 MiB limit"));
    free(text);
}

static void empty_chain(void)
{
    for (int fmt = EC_FORMAT_JSON; fmt <= EC_FORMAT_JSONL; fmt++) {
        ec_chain *c = test_memory_chain(EC_HASH_SHA1);
        REQUIRE(c);
        size_t len;
        int rc;
        char *text = export_buf(c, (ec_file_format)fmt, &len, &rc);
        REQUIRE(text);
        CHECK_OK(rc);
        ec_chain *d;
        CHECK_OK(load_text(text, len, 0, &d, NULL));
        if (d) {
            CHECK(ec_chain_count(d) == 0 && ec_chain_alg(d) == EC_HASH_SHA1);
            ec_chain_free(d);
        }
        free(text);
        ec_chain_free(c);
    }
}

static void import_into(void)
{
    ec_chain *c = test_memory_chain(0);
    REQUIRE(c);
    for (int i = 0; i < 10; i++) {
        ec_event_input in = {.type = "x", .data = &i, .data_len = sizeof i, .timestamp = 7};
        REQUIRE_OK(ec_chain_append(c, &in, NULL, NULL));
    }
    /* first half, then the second half continuing the same chain */
    ec_export_options o = EC_EXPORT_OPTIONS_INIT;
    o.format = EC_FORMAT_JSONL;
    char *b1 = NULL, *b2 = NULL;
    size_t l1, l2;
    FILE *f1 = open_memstream(&b1, &l1), *f2 = open_memstream(&b2, &l2);
    REQUIRE(f1 && f2);
    o.to = 5;
    CHECK_OK(ec_export_stream(c, f1, &o));
    o.from = 5;
    o.to = 0;
    CHECK_OK(ec_export_stream(c, f2, &o));
    fclose(f1);
    fclose(f2);
    ec_chain *d = test_memory_chain(0);
    REQUIRE(d);
    FILE *in = fmemopen(b2, l2, "r");
    ec_verify_result vr;
    CHECK(ec_import_stream(d, in, "second", EC_FORMAT_JSONL, 0, &vr) == EC_EVERIFY);
    CHECK(vr.seq == 0 && vr.status == EC_VERIFY_SEQ); /* starts at 5: not a chain start */
    fclose(in);
    in = fmemopen(b1, l1, "r");
    CHECK_OK(ec_import_stream(d, in, "first", EC_FORMAT_JSONL, 0, NULL));
    fclose(in);
    in = fmemopen(b2, l2, "r");
    CHECK_OK(ec_import_stream(d, in, "second", EC_FORMAT_JSONL, 0, NULL));
    fclose(in);
    CHECK(same_events(c, d));
    /* algorithm mismatch */
    ec_chain *s1 = test_memory_chain(EC_HASH_SHA1);
    in = fmemopen(b1, l1, "r");
    CHECK(ec_import_stream(s1, in, "first", EC_FORMAT_AUTO, 0, NULL) == EC_EINVAL);
    CHECK(strstr(ec_error_last()->message, "first: the file's chain uses sha256"));
    fclose(in);
    /* a chain directory is not a stream format */
    in = fmemopen(b1, l1, "r");
    CHECK(ec_import_stream(s1, in, "first", EC_FORMAT_DIR, 0, NULL) == EC_EINVAL);
    fclose(in);
    /* from past the end */
    o.from = 11;
    CHECK(ec_export_stream(c, stdout, &o) == EC_EINVAL);
    ec_chain_free(s1);
    ec_chain_free(d);
    ec_chain_free(c);
    free(b1);
    free(b2);
}

static int dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    if (d)
        closedir(d);
    return n;
}

static void export_file(void)
{
    ec_chain *c = test_memory_chain(0);
    REQUIRE(c);
    REQUIRE_OK(fill_edges(c));
    char sub[128], path[160];
    snprintf(sub, sizeof sub, "%s/out", tmpdir);
    REQUIRE(mkdir(sub, 0700) == 0);
    snprintf(path, sizeof path, "%s/chain.jsonl", sub);
    ec_export_options o = EC_EXPORT_OPTIONS_INIT;
    o.format = EC_FORMAT_JSONL;
    CHECK_OK(ec_export_file(c, path, &o));
    CHECK_OK(ec_export_file(c, path, &o)); /* replaces */
    size_t len, elen;
    int rc;
    char *got = test_read_file(path, &len);
    char *want = export_buf(c, EC_FORMAT_JSONL, &elen, &rc);
    CHECK(got && want && len == elen && memcmp(got, want, len) == 0);
    free(got);
    free(want);
    CHECK(dir_entries(sub) == 1); /* no temporary file left */
    /* refused formats leave nothing behind, and the old file stands */
    o.format = EC_FORMAT_THEATER;
    CHECK(ec_export_file(c, path, &o) == EC_EUNSUPPORTED);
    CHECK(strstr(ec_error_last()->message, "sha256 chain cannot be written as Theater"));
    CHECK(dir_entries(sub) == 1);
    got = test_read_file(path, &len);
    CHECK(got && len == elen);
    free(got);
    o.format = EC_FORMAT_DIR;
    CHECK(ec_export_file(c, path, &o) == EC_EINVAL);
    CHECK(dir_entries(sub) == 1);
    /* a missing directory is an I/O error naming the path */
    o.format = EC_FORMAT_JSON;
    CHECK(ec_export_file(c, "/nonexistent/evchain/out.json", &o) == EC_EIO);
    CHECK(strstr(ec_error_last()->message, "/nonexistent/evchain/out.json"));
    /* a full disk is reported, not ignored */
    FILE *full = fopen("/dev/full", "w");
    if (full) {
        CHECK(ec_export_stream(c, full, &o) == EC_ENOSPC);
        fclose(full);
    }
    unlink(path);
    rmdir(sub);
    ec_chain_free(c);
}

static void event_json(void)
{
    ec_chain *c = test_memory_chain(0);
    REQUIRE(c);
    REQUIRE_OK(fill_edges(c));
    size_t len;
    int rc;
    char *text = export_buf(c, EC_FORMAT_JSONL, &len, &rc);
    REQUIRE(text);
    char *line = strchr(text, '\n') + 1; /* after the header: event 0 */
    char *end = strchr(line, '\n');
    char *buf = NULL;
    size_t blen;
    FILE *f = open_memstream(&buf, &blen);
    ec_event ev;
    REQUIRE_OK(ec_chain_get(c, 0, &ev));
    CHECK_OK(ec_event_write_json(f, &ev));
    fclose(f);
    CHECK(blen == (size_t)(end - line) && memcmp(buf, line, blen) == 0);
    free(buf);
    free(text);
    ec_chain_free(c);
}

/* tests/vectors/json/example.jsonl is FORMAT.md's example: the same events built here
 * export to exactly its bytes, and it reads back verified. */
static void vector_example(void)
{
    size_t len;
    char *file = test_read_file("tests/vectors/json/example.jsonl", &len);
    REQUIRE(file);
    ec_chain *c = test_memory_chain(0);
    REQUIRE(c);
    ec_event_input a = {.type = "greeting",
                        .data = "hello",
                        .data_len = 5,
                        .description = "first",
                        .timestamp = 1700000000000000000ull};
    ec_event_input b = {
        .type = "bytes", .data = "\x00\x01\xff", .data_len = 3, .timestamp = UINT64_MAX};
    REQUIRE_OK(ec_chain_append(c, &a, NULL, NULL));
    REQUIRE_OK(ec_chain_append(c, &b, NULL, NULL));
    size_t elen;
    int rc;
    char *text = export_buf(c, EC_FORMAT_JSONL, &elen, &rc);
    CHECK(text && elen == len && memcmp(text, file, len) == 0);
    ec_chain *d;
    ec_open_options o = EC_OPEN_OPTIONS_INIT;
    CHECK_OK(ec_chain_open_path(&d, "tests/vectors/json/example.jsonl", &o));
    if (d) {
        CHECK(same_events(c, d));
        ec_chain_free(d);
    }
    free(text);
    free(file);
    ec_chain_free(c);
}

static void open_errors(void)
{
    ec_chain *d;
    CHECK(ec_chain_open_path(&d, "/nonexistent/evchain.json", NULL) == EC_ENOTFOUND);
    CHECK(strstr(ec_error_last()->message, "/nonexistent/evchain.json"));
    ec_open_options o = EC_OPEN_OPTIONS_INIT;
    o.format = EC_FORMAT_JSON;
    CHECK(ec_chain_open_path(&d, tmpdir, &o) == EC_EINVAL);
    /* JSONL given explicitly for a JSON document: the header check names the key */
    const char *doc = "{\"evchain\":1,\"hash_alg\":\"sha256\",\"events\":[]}\n";
    char path[128];
    snprintf(path, sizeof path, "%s/doc.json", tmpdir);
    REQUIRE_OK(write_file(path, doc, strlen(doc)));
    o.format = EC_FORMAT_JSONL;
    CHECK(ec_chain_open_path(&d, path, &o) == EC_EFORMAT);
    CHECK(strstr(ec_error_last()->message, "unknown header key \"events\""));
    o.format = EC_FORMAT_JSON;
    CHECK_OK(ec_chain_open_path(&d, path, &o));
    ec_chain_free(d);
    unlink(path);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(roundtrip_json_sha256);
    RUN(roundtrip_jsonl_sha256);
    RUN(roundtrip_json_sha1);
    RUN(roundtrip_jsonl_theater);
    RUN(fast_and_slow_agree);
    RUN(json_layouts);
    RUN(u64_forms);
    RUN(detect);
    RUN(tampered);
    RUN(bad_inputs);
    RUN(limits);
    RUN(empty_chain);
    RUN(import_into);
    RUN(export_file);
    RUN(event_json);
    RUN(vector_example);
    RUN(open_errors);
    rmdir(tmpdir);
    TEST_END();
}
