/* tests/test_theater.c: Theater compatibility (FORMAT.md section 3) against the six chains
 * Theater recorded (tests/vectors/theater/, 61 events): read and verify, write back byte
 * for byte, convert through JSON and JSONL and back, tamper reports, Python-style string
 * escaping, and bad Theater input. */
#include <unistd.h>
#include "test.h"

static char tmpdir[] = "/tmp/evchain_test_theater_XXXXXX";

static const struct {
    const char *file;
    uint64_t events;
} vectors[] = {
    {"runtime-test.json", 6},     {"environment-test.json", 8}, {"wasi-clocks-test.json", 16},
    {"wasi-random-test.json", 7}, {"wasi-http-first.json", 2},  {"wasi-http-two.json", 22},
};
#define N_VECTORS (sizeof vectors / sizeof *vectors)

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

static int load_text(const char *text, size_t len, int inspect, ec_chain **out,
                     ec_verify_result *vr)
{
    char path[128];
    snprintf(path, sizeof path, "%s/chain.json", tmpdir);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -100;
    fwrite(text, 1, len, f);
    fclose(f);
    ec_open_options o = EC_OPEN_OPTIONS_INIT;
    o.inspect = inspect;
    o.verify_out = vr;
    *out = NULL;
    int rc = ec_chain_open_path(out, path, &o);
    unlink(path);
    return rc;
}

static ec_chain *open_vector(const char *file)
{
    char path[256];
    snprintf(path, sizeof path, "tests/vectors/theater/%s", file);
    ec_chain *c = NULL;
    ec_file_format f;
    if (ec_format_detect(&f, path) != 0 || f != EC_FORMAT_THEATER)
        return NULL;
    if (ec_chain_open_path(&c, path, NULL) != 0)
        return NULL;
    return c;
}

static void vectors_verify(void)
{
    uint64_t total = 0;
    for (size_t k = 0; k < N_VECTORS; k++) {
        ec_chain *c = open_vector(vectors[k].file);
        CHECK(c);
        if (!c)
            continue;
        CHECK(ec_chain_alg(c) == EC_HASH_THEATER_SHA1);
        CHECK(ec_chain_count(c) == vectors[k].events);
        total += ec_chain_count(c);
        ec_verify_result vr;
        CHECK_OK(ec_chain_verify(c, NULL, &vr));
        CHECK(vr.checked == vectors[k].events);
        /* the mapping: seq = position, timestamp 0, no description */
        for (uint64_t s = 0; s < ec_chain_count(c); s++) {
            ec_event ev;
            REQUIRE_OK(ec_chain_get(c, s, &ev));
            CHECK(ev.seq == s && ev.timestamp == 0 && !ev.description && ev.hash_len == 20);
            CHECK((s == 0) == (ev.parent_hash == NULL));
        }
        ec_chain_free(c);
    }
    CHECK(total == 61);
}

static void first_hash(void)
{
    ec_chain *c = open_vector("runtime-test.json");
    REQUIRE(c);
    ec_event ev;
    REQUIRE_OK(ec_chain_get(c, 0, &ev));
    char hex[41];
    ec_hex_encode(hex, ev.hash, 20);
    CHECK(strcmp(hex, "584d8e1be21fed4367e60f8297f7c104cd377791") == 0);
    CHECK(ev.type_len == 4 && memcmp(ev.type, "wasm", 4) == 0);
    const char *d = "{\"category\":\"Wasm\",\"WasmCall\":{\"function_name\":\"theater:simple/"
                    "actor.init\",\"params\":[110,117,108,108]}}";
    CHECK(ev.data_len == strlen(d) && memcmp(ev.data, d, ev.data_len) == 0);
    /* The hash is Theater's: recomputing it from the record gives the same bytes. */
    ec_backend *be = ec_chain_backend(c);
    const uint8_t *rec;
    size_t len;
    REQUIRE_OK(be->get(be, 0, &rec, &len));
    uint8_t h[EC_HASH_MAX];
    CHECK_OK(ec_hash_encoding(EC_HASH_THEATER_SHA1, rec, len - 20, h));
    CHECK(memcmp(h, rec + len - 20, 20) == 0);
    ec_chain_free(c);
}

/* Written back as Theater, each file is byte for byte the original; through JSON and JSONL
 * and back too. */
static void write_back(void)
{
    for (size_t k = 0; k < N_VECTORS; k++) {
        char path[256];
        snprintf(path, sizeof path, "tests/vectors/theater/%s", vectors[k].file);
        size_t flen = 0;
        char *file = test_read_file(path, &flen);
        ec_chain *c = open_vector(vectors[k].file);
        REQUIRE(file && c);
        size_t len;
        int rc;
        char *out = export_buf(c, EC_FORMAT_THEATER, &len, &rc);
        CHECK(out && rc == 0 && len == flen && memcmp(out, file, len) == 0);
        free(out);
        for (int fmt = EC_FORMAT_JSON; fmt <= EC_FORMAT_JSONL; fmt++) {
            char *j = export_buf(c, (ec_file_format)fmt, &len, &rc);
            CHECK(j && rc == 0);
            CHECK(strstr(j, "\"hash_alg\":\"theater-sha1\""));
            ec_chain *d;
            CHECK_OK(load_text(j, len, 0, &d, NULL));
            free(j);
            if (!d)
                continue;
            size_t len2;
            char *back = export_buf(d, EC_FORMAT_THEATER, &len2, &rc);
            CHECK(back && rc == 0 && len2 == flen && memcmp(back, file, flen) == 0);
            free(back);
            ec_chain_free(d);
        }
        ec_chain_free(c);
        free(file);
    }
}

static void tampered(void)
{
    size_t len;
    char *file = test_read_file("tests/vectors/theater/runtime-test.json", &len);
    REQUIRE(file);
    /* the first data byte of event 3 ('{' = 123) becomes '}' (125) */
    char *ev3 = file;
    for (int i = 0; i < 4 && ev3; i++)
        ev3 = strstr(ev3 + 1, "\"data\": [\n      123,");
    REQUIRE(ev3);
    memcpy(ev3 + strlen("\"data\": [\n      "), "125", 3);
    ec_chain *c;
    ec_verify_result vr;
    memset(&vr, 0, sizeof vr);
    CHECK(load_text(file, len, 0, &c, &vr) == EC_EVERIFY);
    CHECK(vr.seq == 3 && vr.status == EC_VERIFY_HASH_MISMATCH);
    CHECK(strstr(ec_error_last()->message, "chain.json: event 3:"));
    REQUIRE_OK(load_text(file, len, 1, &c, NULL));
    memset(&vr, 0, sizeof vr);
    CHECK(ec_chain_verify(c, NULL, &vr) == EC_EVERIFY);
    CHECK(vr.seq == 3);
    ec_chain_free(c);
    free(file);

    /* a broken link: event 2's parent_hash first byte changed */
    file = test_read_file("tests/vectors/theater/runtime-test.json", &len);
    REQUIRE(file);
    char *ev2 = strstr(file, "\"parent_hash\": [");
    ev2 = ev2 ? strstr(ev2 + 1, "\"parent_hash\": [") : NULL; /* event 1's, then 2's */
    REQUIRE(ev2);
    char *digit = ev2 + strlen("\"parent_hash\": [\n      ");
    *digit = *digit == '1' ? '2' : '1';
    memset(&vr, 0, sizeof vr);
    CHECK(load_text(file, len, 0, &c, &vr) == EC_EVERIFY);
    CHECK(vr.seq == 2);
    free(file);
}

static void not_theater_refused(void)
{
    ec_backend *be;
    ec_chain *c;
    REQUIRE_OK(ec_backend_memory(&be, NULL));
    REQUIRE_OK(ec_chain_open(&c, be, NULL));
    ec_event_input in = {.type = "t", .data = "x", .data_len = 1};
    REQUIRE_OK(ec_chain_append(c, &in, NULL, NULL));
    size_t len;
    int rc;
    char *out = export_buf(c, EC_FORMAT_THEATER, &len, &rc);
    CHECK(rc == EC_EUNSUPPORTED);
    CHECK(strstr(ec_error_last()->message, "sha256 chain cannot be written as Theater"));
    CHECK(out && len == 0); /* nothing written */
    free(out);
    ec_chain_free(c);
}

/* Python's json.dumps(ensure_ascii=True) escaping, checked against its output (computed
 * with python3 -c 'import json; print(json.dumps(...))'), and an empty chain. */
static void escaping(void)
{
    ec_backend *be;
    ec_chain *c;
    ec_chain_options o = EC_CHAIN_OPTIONS_INIT;
    o.alg = EC_HASH_THEATER_SHA1;
    REQUIRE_OK(ec_backend_memory(&be, NULL));
    REQUIRE_OK(ec_chain_open(&c, be, &o));
    size_t len;
    int rc;
    char *out = export_buf(c, EC_FORMAT_THEATER, &len, &rc);
    CHECK(rc == 0 && out && len == 2 && memcmp(out, "[]", 2) == 0);
    free(out);
    ec_chain *d;
    CHECK_OK(load_text("[]", 2, 0, &d, NULL));
    CHECK(d && ec_chain_count(d) == 0 && ec_chain_alg(d) == EC_HASH_THEATER_SHA1);
    ec_chain_free(d);

    ec_event_input a = {.type = "q\"uote\\back\nline\t\x01\x7f"};
    ec_event_input b = {
        .type = "r\xc3\xa9sum\xc3\xa9/\xf0\x9f\x98\x80", .data = "\xff", .data_len = 1};
    REQUIRE_OK(ec_chain_append(c, &a, NULL, NULL));
    REQUIRE_OK(ec_chain_append(c, &b, NULL, NULL));
    out = export_buf(c, EC_FORMAT_THEATER, &len, &rc);
    REQUIRE(out && rc == 0);
    CHECK(strstr(out, "\"event_type\": \"q\\\"uote\\\\back\\nline\\t\\u0001\\u007f\",\n"
                      "    \"data\": []\n  },\n  {"));
    CHECK(strstr(out, "\"event_type\": \"r\\u00e9sum\\u00e9/\\ud83d\\ude00\",\n"
                      "    \"data\": [\n      255\n    ]\n  }\n]"));
    CHECK(out[len - 1] == ']');
    /* and it reads back to the same chain (jansson decodes the escapes) */
    CHECK_OK(load_text(out, len, 0, &d, NULL));
    if (d) {
        uint8_t h1[EC_HASH_MAX], h2[EC_HASH_MAX];
        CHECK_OK(ec_chain_head(c, h1, NULL));
        CHECK_OK(ec_chain_head(d, h2, NULL));
        CHECK(memcmp(h1, h2, 20) == 0);
        ec_chain_free(d);
    }
    free(out);
    ec_chain_free(c);
}

#define HASH20   "[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]"
#define EV_START "[{\"hash\":" HASH20 ",\"parent_hash\":null,"
/* a valid first event: "wasm", no data (hash from Python's hashlib, see layouts) */
#define EV_OK                                                                                      \
    "[{\"hash\":[163,233,173,105,97,55,220,63,91,4,6,33,36,131,94,162,240,181,76,194],"            \
    "\"parent_hash\":null,\"event_type\":\"wasm\",\"data\":[]}"
static void bad_inputs(void)
{
    struct {
        const char *text;
        const char *msg;
    } cases[] = {
        {"[", "chain.json: byte 1 (event 0): expected an event object '{', found the end"},
        {EV_START "\"event_type\":\"t\",\"data\":[1,2", "data: expected ',' or ']', found the end"},
        {"[5]", "byte 1 (event 0): expected an event object '{', found '5'"},
        {"[{}]", "event 0): empty event object"},
        {"[{\"hash\":[0,0],\"parent_hash\":null,\"event_type\":\"t\",\"data\":[]}]",
         "(event 0): hash: 2 bytes, not 20"},
        {"[{\"hash\":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}]",
         "(event 0): hash: more than 20 bytes"},
        {"[{\"hash\":" HASH20 ",\"parent_hash\":[1],\"event_type\":\"t\",\"data\":[]}]",
         "parent_hash: 1 bytes, not 20"},
        {EV_START "\"event_type\":\"t\",\"data\":[256]}]",
         "data: element 0 is not an integer 0..255"},
        {EV_START "\"event_type\":\"t\",\"data\":[1,-1]}]", "data: element 1: expected an integer"},
        {EV_START "\"event_type\":\"t\",\"data\":[01]}]", "data: element 0 is not an integer"},
        {EV_START "\"event_type\":\"t\",\"data\":[1.0]}]", "data: element 0 is not an integer"},
        {EV_START "\"event_type\":\"t\",\"data\":[1e2]}]", "data: element 0 is not an integer"},
        {EV_START "\"event_type\":\"t\",\"data\":[1,]}]", "data: element 1: expected an integer"},
        {EV_START "\"event_type\":\"t\",\"data\":\"ab\"}]", "data: not an array of bytes"},
        {EV_START "\"event_type\":1,\"data\":[]}]", "event_type: not a string"},
        {EV_START "\"event_type\":\"\",\"data\":[]}]", "event_type: empty"},
        {EV_START "\"event_type\":\"a\\u0000\",\"data\":[]}]", "event_type: contains U+0000"},
        {EV_START "\"event_type\":\"\\ud800\",\"data\":[]}]", "lone high surrogate \\ud800"},
        {EV_START "\"event_type\":\"\\udc00x\",\"data\":[]}]", "lone low surrogate"},
        {EV_START "\"event_type\":\"\\ud800\\u0041\",\"data\":[]}]", "bad surrogate pair"},
        {EV_START "\"event_type\":\"\\x\",\"data\":[]}]", "bad escape"},
        {EV_START "\"event_type\":\"\\u12G4\",\"data\":[]}]", "bad \\u escape"},
        {EV_START "\"event_type\":\"a\tb\",\"data\":[]}]", "control character 0x09"},
        {EV_START "\"event_type\":\"\xff\",\"data\":[]}]", "event_type: not valid UTF-8"},
        {EV_START "\"event_type\":\"t\",\"data\":[]",
         "expected ',' or '}' in an event, found the end"},
        {"[{\"hash\":" HASH20 ",\"parent_hash\":nul,\"event_type\":\"t\",\"data\":[]}]",
         "parent_hash: neither null nor an array"},
        {"[{\"hash\":" HASH20 ",\"parent_hash\":null,\"data\":[]}]", "missing key \"event_type\""},
        {EV_START "\"event_type\":\"t\",\"data\":[],\"x\":1}]", "unknown key \"x\""},
        {EV_START "\"event_type\":\"t\",\"data\":[],\"data\":[]}]", "duplicate key \"data\""},
        {EV_START "\"event_type\":\"t\",\"data\":[],\"timestamp\":5}]",
         "\"timestamp\" is not covered by Theater's hash"},
        {EV_START "\"event_type\" \"t\",\"data\":[]}]", "event_type: expected ':', found '\"'"},
        {EV_OK " x", "expected ',' or ']' after an event"},
        {EV_OK "] x", "'x' after the end of the array"},
        {EV_START "\"event_type\":\"t\",\"data\":[]}]", "event 0: hash mismatch"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        ec_chain *d = NULL;
        int rc = load_text(cases[k].text, strlen(cases[k].text), 0, &d, NULL);
        const ec_error *e = ec_error_last();
        int want = k + 1 == sizeof cases / sizeof *cases ? EC_EVERIFY : EC_EFORMAT;
        if (rc != want || !e || !strstr(e->message, cases[k].msg)) {
            fprintf(stderr, "case %zu: got %s \"%s\", want \"%s\"\n", k, ec_error_name(rc),
                    e ? e->message : "", cases[k].msg);
            CHECK(0);
        }
        ec_chain_free(d);
    }
}

/* The reader takes any JSON layout of the same values: compact, odd whitespace, escapes,
 * keys in another order. Each loads to the same chain as the original file. */
static void layouts(void)
{
    ec_chain *ref = open_vector("runtime-test.json");
    REQUIRE(ref);
    uint8_t want[EC_HASH_MAX];
    REQUIRE_OK(ec_chain_head(ref, want, NULL));
    ec_chain_free(ref);
    size_t len;
    char *file = test_read_file("tests/vectors/theater/runtime-test.json", &len);
    REQUIRE(file);
    /* compact: drop every space and newline (the file has none inside strings) */
    char *compact = malloc(len + 1);
    REQUIRE(compact);
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (file[i] != ' ' && file[i] != '\n')
            compact[n++] = file[i];
    ec_chain *d;
    CHECK_OK(load_text(compact, n, 0, &d, NULL));
    if (d) {
        uint8_t got[EC_HASH_MAX];
        CHECK_OK(ec_chain_head(d, got, NULL));
        CHECK(memcmp(got, want, 20) == 0);
        ec_chain_free(d);
    }
    /* one event ("wasm", no data) with its keys in reverse order and \u escapes in the
     * type, and the same with odd whitespace: both verify against the hash Python's
     * hashlib.sha1 gives for {"hash":[],"parent_hash":null,"event_type":"wasm","data":[]} */
    const char *ev0 = "[{\"data\":[],\"event_type\":\"\\u0077\\u0061sm\",\"parent_hash\":null,"
                      "\"hash\":[163,233,173,105,97,55,220,63,91,4,6,33,36,131,94,"
                      "162,240,181,76,194]}]";
    const char *ev0b = "[\r\n\t{\"hash\":[163,233,173,105,97,55,220,63,91,4,6,33,36,131,"
                       "94,162,240,181,76,194] , \"parent_hash\" : null,\"event_type\":\"wasm\""
                       ",\"data\":[ ]}\n]\n";
    ec_chain *x, *y;
    int r1 = load_text(ev0, strlen(ev0), 0, &x, NULL);
    int r2 = load_text(ev0b, strlen(ev0b), 0, &y, NULL);
    CHECK_OK(r1);
    CHECK_OK(r2);
    if (r1 == 0 && r2 == 0) {
        uint8_t a[EC_HASH_MAX], b[EC_HASH_MAX];
        CHECK_OK(ec_chain_head(x, a, NULL));
        CHECK_OK(ec_chain_head(y, b, NULL));
        CHECK(memcmp(a, b, 20) == 0);
    }
    ec_chain_free(x);
    ec_chain_free(y);
    free(compact);
    free(file);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(vectors_verify);
    RUN(first_hash);
    RUN(write_back);
    RUN(tampered);
    RUN(not_theater_refused);
    RUN(escaping);
    RUN(bad_inputs);
    RUN(layouts);
    rmdir(tmpdir);
    TEST_END();
}
