/* tests/test_actor.c: the actor runtime end to end on the example actors: recording (binding
 * first event, call/result pairs, payloads that decode), the store, messages and their
 * cross-chain links, requests, supervision with a trapping child, timers, the module cache
 * and the import check. Hostile actors are in test_actor_hostile.c. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include "test_actor_util.h"
#include "actor/cbor.h"
#include "store/vfs.h"

static void payload_encoding(void)
{
    uint8_t small[8];
    cbuf b;
    cb_init(&b, small, sizeof small); /* small on purpose: forces the move to the heap */
    cb_map(&b, 4);
    cb_str(&b, "fn");
    cb_str(&b, "x\"y");
    cb_str(&b, "ret");
    cb_int(&b, -5);
    cb_str(&b, "data");
    cb_blob(&b, "\xff\x00", 2);
    cb_str(&b, "count");
    cb_uint(&b, 1000000);
    REQUIRE(!b.oom);
    CHECK_OK(cb_check(b.p, b.len));
    char *js = NULL;
    REQUIRE_OK(ec_payload_to_json("wasm/call", b.p, b.len, &js));
    CHECK(strcmp(js, "{\"fn\":\"x\\\"y\",\"ret\":-5,\"data\":\"ff00\",\"count\":1000000}") == 0);
    free(js);
    CHECK(ec_payload_to_json("test/other", b.p, b.len, &js) == EC_EUNSUPPORTED);
    cb_free(&b);
    /* Not deterministic: 1 in a two-byte head; keys out of order; trailing byte. */
    static const uint8_t long_head[] = {0x18, 0x01};
    CHECK(cb_check(long_head, sizeof long_head) == EC_EFORMAT);
    static const uint8_t unordered[] = {0xa2, 0x62, 'f', 'n', 0x01, 0x61, 'a', 0x02};
    CHECK(cb_check(unordered, sizeof unordered) == EC_EFORMAT);
    static const uint8_t trailing[] = {0x01, 0x02};
    CHECK(cb_check(trailing, sizeof trailing) == EC_EFORMAT);
    static const uint8_t truncated[] = {0x62, 'f'};
    CHECK(cb_check(truncated, sizeof truncated) == EC_EFORMAT);
    static const uint8_t huge_array[] = {0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    CHECK(cb_check(huge_array, sizeof huge_array) == EC_EFORMAT);
}

/* The vectors of docs/ABI.md section 4 (recomputed by docs/abi_vectors.py, an independent
 * encoder), written with the calls and key order the runtime uses. */
static int hex_is(const cbuf *b, const char *hex)
{
    char *h = malloc(2 * b->len + 1);
    if (!h)
        return 0;
    ec_hex_encode(h, b->p, b->len);
    int ok = strcmp(h, hex) == 0;
    if (!ok)
        fprintf(stderr, "got  %s\nwant %s\n", h, hex);
    free(h);
    return ok;
}

static void payload_vectors(void)
{
    cbuf b;
    cb_init(&b, NULL, 0);
    cb_map(&b, 0);
    CHECK(hex_is(&b, "a0"));
    cb_free(&b);
    cb_init(&b, NULL, 0);
    cb_map(&b, 1);
    cb_str(&b, "ret");
    cb_int(&b, 1764115200000000000);
    CHECK(hex_is(&b, "a1637265741b187b656d7ede0000"));
    cb_free(&b);
    cb_init(&b, NULL, 0);
    cb_map(&b, 2);
    cb_str(&b, "to");
    cb_blob(&b, "pong", 4);
    cb_str(&b, "body");
    cb_blob(&b, "ping 1 3", 8);
    CHECK(hex_is(&b, "a262746f64706f6e6764626f64796870696e6720312033"));
    cb_free(&b);
    cb_init(&b, NULL, 0);
    cb_map(&b, 2);
    cb_str(&b, "ret");
    cb_int(&b, -3);
    cb_str(&b, "error");
    cb_str(&b, "'..' refused: escapes the sandbox");
    CHECK(hex_is(&b, "a26372657422656572726f727821272e2e2720726566757365643a20657363617065"
                     "73207468652073616e64626f78"));
    cb_free(&b);
    uint8_t link[32];
    for (int k = 0; k < 32; k++)
        link[k] = (uint8_t)k;
    cb_init(&b, NULL, 0);
    cb_map(&b, 4);
    cb_str(&b, "fn");
    cb_str(&b, "ec_handle_message");
    cb_str(&b, "from");
    cb_str(&b, "ping");
    cb_str(&b, "link");
    cb_bytes(&b, link, 32);
    cb_str(&b, "input");
    cb_blob(&b, "pong 1 3", 8);
    CHECK(hex_is(&b, "a462666e7165635f68616e646c655f6d6573736167656466726f6d6470696e67646c69"
                     "6e6b5820000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e"
                     "1f65696e70757468706f6e6720312033"));
    cb_free(&b);
}

static void import_check(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor_options o = EC_ACTOR_OPTIONS_INIT;
    o.id = "bad";
    ec_actor *a = NULL;
    int rc = ec_runtime_spawn(rt, actor_path("badimport"), &o, &a);
    CHECK(rc == EC_EUNSUPPORTED);
    const ec_error *e = ec_error_last();
    CHECK(e && strstr(e->message, "env.launch_missiles") && strstr(e->message, "badimport"));
    CHECK(a == NULL && ec_runtime_find(rt, "bad") == NULL);
    /* Not wasm at all, and a missing file: clear errors, nothing started. */
    char junk[300];
    snprintf(junk, sizeof junk, "%s/junk.wasm", t_data);
    FILE *f = fopen(junk, "w");
    REQUIRE(f);
    fputs("hello", f);
    fclose(f);
    CHECK(ec_runtime_spawn(rt, junk, &o, &a) == EC_EFORMAT);
    CHECK(ec_runtime_spawn(rt, "/nonexistent/x.wasm", &o, &a) == EC_ENOTFOUND);
    o.id = "../evil";
    CHECK(ec_runtime_spawn(rt, actor_path("counter"), &o, &a) == EC_EINVAL);
    ec_runtime_free(rt);
    scratch_end();
}

/* A memory cap of 65536 pages (4 GiB) is refused: the wasm2c runtime computes a memory's byte
 * size in 32 bits, so a memory.grow to 65536 pages would free the actor's memory. */
static void memory_cap_limit(void)
{
    scratch_begin();
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT;
    o.chain_store = EC_CHAIN_STORE_MEMORY;
    o.memory_pages = EC_MEMORY_PAGES_MAX + 1;
    CHECK(new_runtime_with(&o) == NULL);
    const ec_error *e = ec_error_last();
    CHECK(e && e->code == EC_EINVAL && strstr(e->message, "memory_pages 65536 over 65535"));
    o.memory_pages = EC_MEMORY_PAGES_MAX;
    ec_runtime *rt = new_runtime_with(&o);
    CHECK(rt != NULL);
    ec_runtime_free(rt);
    scratch_end();
}

static void module_cache(void)
{
    scratch_begin();
    char cache[300];
    snprintf(cache, sizeof cache, "%s/cache", t_data);
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT;
    o.data_dir = t_data;
    o.cache_dir = cache;
    o.chain_store = EC_CHAIN_STORE_MEMORY;
    o.quiet = 1;
    ec_runtime *rt;
    REQUIRE_OK(ec_runtime_new(&rt, &o));
    int compiled = -1;
    CHECK_OK(ec_runtime_prepare(rt, actor_path("worker"), &compiled));
    CHECK(compiled == 1);
    ec_runtime_free(rt);
    /* A second start of the same module, in a new runtime: nothing compiled. */
    REQUIRE_OK(ec_runtime_new(&rt, &o));
    compiled = -1;
    CHECK_OK(ec_runtime_prepare(rt, actor_path("worker"), &compiled));
    CHECK(compiled == 0);
    ec_runtime_free(rt);
    scratch_end();
}

static void counter_store_and_binding(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "counter", "c1", "hello");
    REQUIRE(a);
    CHECK(ec_actor_get_state(a) == EC_ACTOR_RUNNING);
    CHECK_OK(ec_runtime_send(rt, "c1", "inc", 3));
    CHECK_OK(ec_runtime_send(rt, "c1", "add 5", 5));
    CHECK_OK(ec_runtime_send(rt, "c1", "tick", 4));
    size_t pending = 9;
    CHECK_OK(ec_runtime_run(rt, 2000, &pending));
    CHECK(pending == 0);
    ec_chain *c = ec_actor_chain(a);
    CHECK(check_chain(c) > 10);
    /* Event 0 binds the chain. */
    ec_event ev;
    REQUIRE_OK(ec_chain_get(c, 0, &ev));
    CHECK(ev.type_len == 11 && memcmp(ev.type, "actor/start", 11) == 0);
    char *js = NULL;
    REQUIRE_OK(ec_payload_to_json("actor/start", ev.data, ev.data_len, &js));
    CHECK(strstr(js, "\"abi\":1") && strstr(js, "\"alg\":\"sha256\"") &&
          strstr(js, "\"actor\":\"c1\"") && strstr(js, "\"args\":\"hello\"") &&
          strstr(js, "\"module_sha256\":\"") && strstr(js, "\"fuel\":1000000000") &&
          strstr(js, "\"call_depth\":2000") && strstr(js, "\"memory_pages\":256"));
    free(js);
    /* Every call is a call/result pair; the first is ec_init with its arguments. */
    REQUIRE_OK(find_event(c, "wasm/call", 0, &js, NULL));
    CHECK(strstr(js, "\"fn\":\"ec_init\"") && strstr(js, "\"input\":\"hello\""));
    free(js);
    REQUIRE_OK(find_event(c, "wasm/call", 1, &js, NULL));
    CHECK(strstr(js, "\"from\":\"@external\"") && strstr(js, "\"input\":\"inc\""));
    free(js);
    /* The timer's call links to the timer/set request of the same chain. */
    uint64_t set_seq, call_seq;
    REQUIRE_OK(find_event(c, "timer/set", 0, NULL, &set_seq));
    REQUIRE_OK(find_event(c, "wasm/call", 4, &js, &call_seq));
    CHECK(strstr(js, "\"fn\":\"ec_handle_timer\"") && strstr(js, "\"arg\":1"));
    ec_event set_ev;
    REQUIRE_OK(ec_chain_get(c, set_seq, &set_ev));
    char hex[65];
    ec_hex_encode(hex, set_ev.hash, 32);
    CHECK(strstr(js, hex) != NULL);
    free(js);
    /* The value lives in the shared store: label -> object holding "7" (1 + 5 + 1). */
    char path[512], buf[80];
    snprintf(path, sizeof path, "%s/store/labels/counter-c1", t_data);
    FILE *f = fopen(path, "r");
    REQUIRE(f);
    size_t n = fread(buf, 1, 64, f);
    fclose(f);
    REQUIRE(n == 64);
    buf[64] = 0;
    snprintf(path, sizeof path, "%s/store/objects/%s", t_data, buf);
    f = fopen(path, "r");
    REQUIRE(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    CHECK(strcmp(buf, "7") == 0);
    /* store/get results carry what the actor was given. */
    REQUIRE_OK(find_event(c, "store/get.result", 0, &js, NULL));
    CHECK(strstr(js, "\"out\":\"1\"") && strstr(js, "\"ret\":1"));
    free(js);
    /* A second actor on the same module shares the loaded code, not the state. */
    ec_actor *b = spawn(rt, "counter", "c2", NULL);
    REQUIRE(b);
    CHECK_OK(ec_runtime_send(rt, "c2", "inc", 3));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    REQUIRE_OK(find_event(ec_actor_chain(b), "store/put", 0, &js, NULL));
    CHECK(strstr(js, "\"data\":\"1\""));
    free(js);
    CHECK(ec_runtime_send(rt, "nobody", "x", 1) == EC_ENOTFOUND);
    ec_runtime_free(rt);
    scratch_end();
}

/* Each message receipt names the hash of its message/send event in the sender's chain. */
static int links_ok(ec_chain *recv, ec_chain *sender, const char *sender_id, int *count)
{
    ec_iter *it;
    ec_event ev;
    *count = 0;
    if (ec_iter_new(&it, recv, 0))
        return -1;
    int ok = 0;
    while (ec_iter_next(it, &ev) == 0) {
        if (ev.type_len != 9 || memcmp(ev.type, "wasm/call", 9) != 0)
            continue;
        char *js = NULL;
        if (ec_payload_to_json("wasm/call", ev.data, ev.data_len, &js))
            return -1;
        char want[80];
        snprintf(want, sizeof want, "\"from\":\"%s\",\"link\":\"", sender_id);
        char *l = strstr(js, want);
        if (l) {
            uint8_t h[32];
            uint64_t seq;
            ec_event sev;
            if (ec_hex_decode(h, 32, l + strlen(want), 64) || ec_chain_find(sender, h, 32, &seq) ||
                ec_chain_get(sender, seq, &sev) || sev.type_len != 12 ||
                memcmp(sev.type, "message/send", 12) != 0)
                ok = -1;
            (*count)++;
        }
        free(js);
    }
    ec_iter_free(it);
    return ok;
}

static void ping_pong_links(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "pingpong", "ping", "pong");
    ec_actor *b = spawn(rt, "pingpong", "pong", "ping");
    REQUIRE(a && b);
    CHECK_OK(ec_runtime_send(rt, "ping", "serve 4", 7));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    int na = 0, nb = 0;
    CHECK(links_ok(ec_actor_chain(b), ec_actor_chain(a), "ping", &nb) == 0);
    CHECK(links_ok(ec_actor_chain(a), ec_actor_chain(b), "pong", &na) == 0);
    CHECK(nb == 4 && na == 4); /* 4 pings received by pong, 4 pongs by ping */
    CHECK(check_chain(ec_actor_chain(a)) > 0 && check_chain(ec_actor_chain(b)) > 0);
    /* Tampering with a receipt's link is caught by the cross-check above: change one byte of
     * the sender chain's search and the link no longer resolves. */
    uint8_t zero[32] = {0};
    uint64_t seq;
    CHECK(ec_chain_find(ec_actor_chain(a), zero, 32, &seq) == EC_ENOTFOUND);
    ec_runtime_free(rt);
    scratch_end();
}

/* A copy of a chain with one event's payload changed: every hash from there on differs. */
static ec_chain *forge(ec_chain *src, const char *type, int byte)
{
    ec_backend *be;
    ec_chain *c;
    if (ec_backend_memory(&be, NULL) || ec_chain_open(&c, be, NULL))
        return NULL;
    ec_iter *it;
    ec_event ev;
    int done = 0;
    if (ec_iter_new(&it, src, 0))
        return NULL;
    while (ec_iter_next(it, &ev) == 0) {
        uint8_t data[4096];
        if (ev.data_len > sizeof data)
            break;
        memcpy(data, ev.data, ev.data_len);
        if (!done && ev.type_len == strlen(type) && memcmp(ev.type, type, ev.type_len) == 0) {
            data[ev.data_len - 1] ^= (uint8_t)byte;
            done = 1;
        }
        ec_event_input in = {0};
        in.type = ev.type;
        in.type_len = ev.type_len;
        in.data = data;
        in.data_len = ev.data_len;
        in.timestamp = ev.timestamp;
        if (ec_chain_append(c, &in, NULL, NULL))
            break;
    }
    ec_iter_free(it);
    return c;
}

static void group_links(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    REQUIRE(spawn(rt, "pingpong", "ping", "pong") && spawn(rt, "pingpong", "pong", "ping"));
    REQUIRE(spawn(rt, "supervisor", "sup", NULL) && spawn(rt, "counter", "cnt", NULL));
    const char *msgs[][2] = {
        {"ping", "serve 2"}, {"sup", "work 1"}, {"sup", "crash"}, {"cnt", "tick"}};
    for (int k = 0; k < 4; k++)
        CHECK_OK(ec_runtime_send(rt, msgs[k][0], msgs[k][1], strlen(msgs[k][1])));
    CHECK_OK(ec_runtime_run(rt, 2000, NULL));
    CHECK_OK(ec_runtime_send(rt, "sup", "total", 5));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    size_t n = ec_runtime_actor_count(rt);
    REQUIRE(n == 6);
    ec_chain *chains[6];
    for (size_t k = 0; k < n; k++)
        chains[k] = ec_actor_chain(ec_runtime_actor_at(rt, k));
    ec_links_result lr;
    CHECK_OK(ec_actor_check_links(chains, n, &lr));
    /* 2 pings + 2 pongs, 2 forwards to children, 1 request + its reply, 1 child notice,
     * 1 timer. */
    CHECK(lr.checked == 10 && lr.unresolved == 0);
    /* Without the senders' chains, the links are unresolved, not broken. */
    ec_chain *pong_only[1] = {ec_actor_chain(ec_runtime_find(rt, "pong"))};
    CHECK_OK(ec_actor_check_links(pong_only, 1, &lr));
    CHECK(lr.checked == 0 && lr.unresolved == 2);
    /* A forged sender chain (one message body changed, the chain re-hashed so that it
     * verifies on its own) no longer matches the receiver's receipts. */
    ec_chain *forged = forge(ec_actor_chain(ec_runtime_find(rt, "ping")), "message/send", 1);
    REQUIRE(forged);
    ec_verify_result vr;
    CHECK_OK(ec_chain_verify(forged, NULL, &vr));
    ec_chain *pair[2] = {forged, ec_actor_chain(ec_runtime_find(rt, "pong"))};
    CHECK(ec_actor_check_links(pair, 2, &lr) == EC_EVERIFY);
    CHECK(lr.actor == 1 && strstr(lr.reason, "pong: event") && strstr(lr.reason, "ping"));
    ec_chain_free(forged);
    /* Not an actor chain; the same actor twice. */
    ec_backend *be;
    ec_chain *plain;
    REQUIRE_OK(ec_backend_memory(&be, NULL));
    REQUIRE_OK(ec_chain_open(&plain, be, NULL));
    ec_event_input in = {.type = "test/x", .data = "x", .data_len = 1};
    REQUIRE_OK(ec_chain_append(plain, &in, NULL, NULL));
    ec_chain *odd[2] = {chains[0], plain};
    CHECK(ec_actor_check_links(odd, 2, &lr) == EC_EFORMAT);
    ec_chain *twice[2] = {chains[0], chains[0]};
    CHECK(ec_actor_check_links(twice, 2, &lr) == EC_EINVAL);
    ec_chain_free(plain);
    ec_runtime_free(rt);
    scratch_end();
}

static void supervisor_restarts_trapping_child(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *p = spawn(rt, "supervisor", "sup", NULL);
    REQUIRE(p);
    ec_actor *w = ec_runtime_find(rt, "sup.worker");
    ec_actor *c = ec_runtime_find(rt, "sup.crasher");
    REQUIRE(w && c);
    CHECK(ec_actor_get_state(c) == EC_ACTOR_RUNNING);
    CHECK_OK(ec_runtime_send(rt, "sup", "work 5", 6));
    CHECK_OK(ec_runtime_send(rt, "sup", "work 7", 6));
    CHECK_OK(ec_runtime_send(rt, "sup", "crash", 5));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    /* Forwarded work was queued behind the messages above: ask for the total only now. */
    CHECK_OK(ec_runtime_send(rt, "sup", "total", 5));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    /* The crasher trapped (recorded in its chain), the parent was told and restarted it. */
    char *js = NULL;
    REQUIRE_OK(find_event(ec_actor_chain(c), "wasm/trap", 0, &js, NULL));
    CHECK(strstr(js, "division by zero") != NULL);
    free(js);
    CHECK(find_event(ec_actor_chain(c), "actor/restart", 0, NULL, NULL) == 0);
    CHECK(ec_actor_get_state(c) == EC_ACTOR_RUNNING);
    REQUIRE_OK(find_event(ec_actor_chain(p), "wasm/call", 0, &js, NULL));
    CHECK(strstr(js, "ec_init"));
    free(js);
    int found = 0;
    for (int k = 0; k < 10 && !found; k++) {
        if (find_event(ec_actor_chain(p), "wasm/call", k, &js, NULL))
            break;
        found = strstr(js, "\"fn\":\"ec_handle_child\"") && strstr(js, "\"arg\":1") &&
                strstr(js, "\"from\":\"sup.crasher\"");
        free(js);
    }
    CHECK(found);
    CHECK(find_event(ec_actor_chain(p), "supervisor/restart.result", 0, &js, NULL) == 0);
    CHECK(js && strstr(js, "\"ret\":0"));
    free(js);
    /* The request to the worker got its total, and the reply is linked. */
    REQUIRE_OK(find_event(ec_actor_chain(p), "message/request.result", 0, &js, NULL));
    CHECK(strstr(js, "\"out\":\"12\"") && strstr(js, "\"link\":\""));
    free(js);
    CHECK(find_event(ec_actor_chain(w), "message/reply", 0, NULL, NULL) == 0);
    /* The parent lists its children and reads a child's status (41 bytes). */
    CHECK_OK(ec_runtime_send(rt, "sup", "status", 6));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    REQUIRE_OK(find_event(ec_actor_chain(p), "supervisor/list.result", 0, &js, NULL));
    CHECK(strstr(js, "\"out\":\"worker\\ncrasher\\n\""));
    free(js);
    REQUIRE_OK(find_event(ec_actor_chain(p), "supervisor/status.result", 0, &js, NULL));
    CHECK(strstr(js, "\"ret\":41"));
    free(js);
    /* The worker stopped itself: the parent hears of it; stopping the parent stops all. */
    CHECK_OK(ec_runtime_send(rt, "sup.worker", "quit", 4));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    CHECK(ec_actor_get_state(w) == EC_ACTOR_STOPPED);
    CHECK(strstr(ec_actor_reason(w), "asked to quit") != NULL);
    /* The worker's own stop reached the parent as a child notice (event 2). */
    found = 0;
    for (int k = 0; k < 20 && !found; k++) {
        if (find_event(ec_actor_chain(p), "wasm/call", k, &js, NULL))
            break;
        found = strstr(js, "\"fn\":\"ec_handle_child\"") && strstr(js, "\"arg\":2") &&
                strstr(js, "\"from\":\"sup.worker\"");
        free(js);
    }
    CHECK(found);
    /* The parent stops a child itself; a second stop finds it stopped (ESTATE). */
    CHECK_OK(ec_runtime_send(rt, "sup", "stop crasher", 12));
    CHECK_OK(ec_runtime_send(rt, "sup", "stop crasher", 12));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    CHECK(ec_actor_get_state(c) == EC_ACTOR_STOPPED);
    CHECK(strstr(ec_actor_reason(c), "stopped by its supervisor") != NULL);
    REQUIRE_OK(find_event(ec_actor_chain(p), "supervisor/stop.result", 0, &js, NULL));
    CHECK(strstr(js, "\"ret\":0"));
    free(js);
    REQUIRE_OK(find_event(ec_actor_chain(p), "supervisor/stop.result", 1, &js, NULL));
    CHECK(strstr(js, "\"ret\":-7"));
    free(js);
    CHECK_OK(ec_runtime_stop(rt, "sup", "test over"));
    CHECK(ec_actor_get_state(p) == EC_ACTOR_STOPPED);
    CHECK(find_event(ec_actor_chain(c), "actor/stop", 0, NULL, NULL) == 0);
    for (size_t k = 0; k < ec_runtime_actor_count(rt); k++)
        CHECK(check_chain(ec_actor_chain(ec_runtime_actor_at(rt, k))) > 0);
    ec_runtime_free(rt);
    scratch_end();
}

static void files_env_random(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    setenv("GREETING", "bonjour", 1);
    setenv("SECRET", "hunter2", 1);
    const char *allow[] = {"GREETING"};
    ec_actor_options o = EC_ACTOR_OPTIONS_INIT;
    o.id = "f";
    o.env_allow = allow;
    o.env_allow_count = 1;
    ec_actor *a = NULL;
    REQUIRE_OK(ec_runtime_spawn(rt, actor_path("files"), &o, &a));
    const char *msgs[] = {
        "write a.txt hello world", "read a.txt", "greet", "list", "delete a.txt", "exists a.txt"};
    for (size_t k = 0; k < sizeof msgs / sizeof msgs[0]; k++)
        CHECK_OK(ec_runtime_send(rt, "f", msgs[k], strlen(msgs[k])));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    ec_chain *c = ec_actor_chain(a);
    char *js = NULL;
    REQUIRE_OK(find_event(c, "fs/read.result", 0, &js, NULL));
    CHECK(strstr(js, "\"out\":\"hello world\""));
    free(js);
    REQUIRE_OK(find_event(c, "env/get.result", 0, &js, NULL));
    CHECK(strstr(js, "\"out\":\"bonjour\""));
    free(js);
    REQUIRE_OK(find_event(c, "random/get.result", 0, &js, NULL));
    CHECK(strstr(js, "\"ret\":8"));
    free(js);
    REQUIRE_OK(find_event(c, "fs/list.result", 0, &js, NULL));
    CHECK(strstr(js, "a.txt\\ngreeting.txt\\nrandom.bin\\n"));
    free(js);
    REQUIRE_OK(find_event(c, "fs/exists.result", 0, &js, NULL));
    CHECK(strstr(js, "\"ret\":0"));
    free(js);
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/actors/f/fs/greeting.txt", t_data);
    CHECK(stat(path, &st) == 0 && st.st_size == 7);
    snprintf(path, sizeof path, "%s/actors/f/fs/a.txt", t_data);
    CHECK(stat(path, &st) != 0);
    /* An actor without GREETING on its allow-list is refused, and the refusal recorded. */
    REQUIRE(spawn(rt, "files", "g", NULL));
    CHECK_OK(ec_runtime_send(rt, "g", "greet", 5));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    REQUIRE_OK(
        find_event(ec_actor_chain(ec_runtime_find(rt, "g")), "env/get.result", 0, &js, NULL));
    CHECK(strstr(js, "\"ret\":-3") && strstr(js, "allow-list"));
    free(js);
    CHECK(check_chain(c) > 0);
    ec_runtime_free(rt);
    scratch_end();
}

/* time_now gives the actor the clock, and the chain records exactly what it was given. */
static void time_recorded(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "bench", "clock", "none");
    REQUIRE(a);
    uint64_t before = ec_time_now_ns();
    CHECK_OK(ec_runtime_send(rt, "clock", "clock 3", 7));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    uint64_t after = ec_time_now_ns();
    uint64_t prev = 0;
    for (int k = 0; k < 3; k++) {
        char *js = NULL;
        REQUIRE_OK(find_event(ec_actor_chain(a), "time/now.result", k, &js, NULL));
        const char *r = strstr(js, "\"ret\":");
        unsigned long long v = r ? strtoull(r + 6, NULL, 10) : 0;
        CHECK(v >= before && v <= after && v >= prev);
        prev = v;
        free(js);
    }
    CHECK(find_event(ec_actor_chain(a), "time/now.result", 3, NULL, NULL) == -1);
    ec_runtime_free(rt);
    scratch_end();
}

/* ---- sync_effects: an instrumented backend records where the runtime syncs ---- */

typedef struct probe {
    ec_backend base;
    ec_backend *inner;
    size_t nsync;
    uint64_t synced_at[256]; /* record count at each sync */
} probe;

static probe *probes[8];
static size_t nprobes;

#define INNER(b) (((probe *)(b))->inner)
static int p_get_alg(ec_backend *b, ec_hash_alg *o)
{
    return INNER(b)->get_alg(INNER(b), o);
}
static int p_set_alg(ec_backend *b, ec_hash_alg a)
{
    return INNER(b)->set_alg(INNER(b), a);
}
static int p_count(ec_backend *b, uint64_t *o)
{
    return INNER(b)->count(INNER(b), o);
}
static int p_reserve(ec_backend *b, size_t len, uint8_t **o)
{
    return INNER(b)->reserve(INNER(b), len, o);
}
static int p_commit(ec_backend *b, uint64_t seq, size_t off)
{
    return INNER(b)->commit(INNER(b), seq, off);
}
static int p_get(ec_backend *b, uint64_t seq, const uint8_t **r, size_t *l)
{
    return INNER(b)->get(INNER(b), seq, r, l);
}
static int p_find(ec_backend *b, const uint8_t *h, size_t hl, uint64_t *o)
{
    return INNER(b)->find_hash(INNER(b), h, hl, o);
}
static int p_iter_new(ec_backend *b, uint64_t from, ec_backend_iter **o)
{
    return INNER(b)->iter_new(INNER(b), from, o);
}
static int p_sync(ec_backend *b)
{
    probe *p = (probe *)b;
    uint64_t n = 0;
    p->inner->count(p->inner, &n);
    if (p->nsync < 256)
        p->synced_at[p->nsync++] = n;
    return 0;
}
static void p_free(ec_backend *b)
{
    INNER(b)->free(INNER(b));
    for (size_t k = 0; k < nprobes; k++)
        if (probes[k] == (probe *)b)
            probes[k] = NULL;
    free(b);
}

static int probe_new(ec_backend **out, const char *id, const char *dir, void *ctx)
{
    (void)id, (void)dir, (void)ctx;
    probe *p = calloc(1, sizeof *p);
    if (!p || nprobes == 8 || ec_backend_memory(&p->inner, NULL)) {
        free(p);
        return EC_ENOMEM;
    }
    p->base = *p->inner; /* iter_next and iter_free take the iterator only */
    p->base.get_alg = p_get_alg;
    p->base.set_alg = p_set_alg;
    p->base.count = p_count;
    p->base.reserve = p_reserve;
    p->base.commit = p_commit;
    p->base.get = p_get;
    p->base.find_hash = p_find;
    p->base.iter_new = p_iter_new;
    p->base.wait_durable = NULL;
    p->base.sync = p_sync;
    p->base.free = p_free;
    probes[nprobes++] = p;
    *out = &p->base;
    return 0;
}

/* docs/ABI.md section 1: the host calls whose effect leaves the actor. */
static int effect_type(const ec_event *ev)
{
    static const char *const t[] = {"runtime/log",     "store/put",          "store/label_set",
                                    "fs/write",        "fs/delete",          "message/send",
                                    "message/request", "message/reply",      "supervisor/spawn",
                                    "supervisor/stop", "supervisor/restart", "runtime/shutdown",
                                    "wasm/trap",       "actor/stop"};
    for (size_t k = 0; k < sizeof t / sizeof t[0]; k++)
        if (ev->type_len == strlen(t[k]) && memcmp(ev->type, t[k], ev->type_len) == 0)
            return 1;
    return 0;
}

static void sync_before_effects(void)
{
    scratch_begin();
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT;
    o.sync_effects = 1;
    o.backend_new = probe_new;
    nprobes = 0;
    ec_runtime *rt = new_runtime_with(&o);
    REQUIRE(rt);
    setenv("GREETING", "hi", 1);
    const char *allow[] = {"GREETING"};
    ec_actor_options ao = EC_ACTOR_OPTIONS_INIT;
    ao.id = "f";
    ao.env_allow = allow;
    ao.env_allow_count = 1;
    ec_actor *a;
    REQUIRE_OK(ec_runtime_spawn(rt, actor_path("files"), &ao, &a));
    const char *msgs[] = {"write a.txt hi", "read a.txt", "greet", "list", "delete a.txt"};
    for (int k = 0; k < 5; k++)
        CHECK_OK(ec_runtime_send(rt, "f", msgs[k], strlen(msgs[k])));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    CHECK_OK(ec_runtime_stop(rt, "f", "done"));
    REQUIRE(nprobes == 1 && probes[0]);
    probe *p = probes[0];
    /* Every effect's request (and the stop) is followed by a sync right after it is
     * recorded; nothing else is: reads, time, random and calls into the actor are not. */
    ec_chain *c = ec_actor_chain(a);
    size_t want = 0, effects = 0, pure = 0;
    ec_iter *it;
    ec_event ev;
    REQUIRE_OK(ec_iter_new(&it, c, 0));
    while (ec_iter_next(it, &ev) == 0) {
        if (!effect_type(&ev)) {
            for (size_t k = 0; k < p->nsync; k++)
                CHECK(p->synced_at[k] != ev.seq + 1 || ev.seq + 1 == 0);
            pure++;
            continue;
        }
        effects++;
        CHECK(want < p->nsync && p->synced_at[want] == ev.seq + 1);
        want++;
    }
    ec_iter_free(it);
    CHECK(p->nsync == want && effects >= 6 && pure > effects);
    ec_runtime_free(rt);
    scratch_end();
}

/* ---- a wait for durability gives the runtime lock up (ABI.md section 1) ---- */

/* The probe backend with a wait for durability that blocks while the gate is closed. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_closed, gate_waiters;

static int p_wait_gate(ec_backend *b, uint64_t seq)
{
    (void)b, (void)seq;
    pthread_mutex_lock(&gate_mu);
    gate_waiters++;
    pthread_cond_broadcast(&gate_cv);
    while (gate_closed)
        pthread_cond_wait(&gate_cv, &gate_mu);
    gate_waiters--;
    pthread_mutex_unlock(&gate_mu);
    return 0;
}

static int gate_new(ec_backend **out, const char *id, const char *dir, void *ctx)
{
    int rc = probe_new(out, id, dir, ctx);
    if (rc == 0)
        (*out)->wait_durable = p_wait_gate;
    return rc;
}

typedef struct locker {
    ec_runtime *rt;
    ec_actor *a;
    uint64_t count; /* the actor's chain length seen under the lock */
    int done;
} locker;

static void *run_locked(void *p)
{
    locker *l = p;
    ec_runtime_lock(l->rt);
    ec_runtime_run(l->rt, 0, NULL);
    ec_runtime_unlock(l->rt);
    return NULL;
}

static void *take_lock(void *p)
{
    locker *l = p;
    ec_runtime_lock(l->rt);
    uint64_t n = ec_chain_count(ec_actor_chain(l->a));
    ec_runtime_unlock(l->rt);
    pthread_mutex_lock(&gate_mu);
    l->count = n;
    l->done = 1;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    return NULL;
}

/* While an actor's call waits on one thread for its chain to be durable (held at the gate),
 * another thread takes the runtime lock and finds the event appended: the wait holds nothing
 * of the runtime. *got: whether the other thread got the lock within 5 s; *seen: the chain's
 * length it found. The gate is closed from the delivery of "inc" on. */
static void lock_free_while_waiting(ec_runtime *rt, ec_actor *c, int *got, uint64_t *seen)
{
    CHECK_OK(ec_runtime_send(rt, ec_actor_id(c), "inc", 3));
    pthread_mutex_lock(&gate_mu);
    gate_closed = 1;
    pthread_mutex_unlock(&gate_mu);
    locker l = {rt, c, 0, 0};
    pthread_t runner, taker;
    REQUIRE(pthread_create(&runner, NULL, run_locked, &l) == 0);
    pthread_mutex_lock(&gate_mu);
    while (gate_waiters == 0) /* the delivery's wasm/call is appended, its wait begun */
        pthread_cond_wait(&gate_cv, &gate_mu);
    pthread_mutex_unlock(&gate_mu);
    REQUIRE(pthread_create(&taker, NULL, take_lock, &l) == 0);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&gate_mu);
    while (!l.done && pthread_cond_timedwait(&gate_cv, &gate_mu, &until) == 0)
        ;
    int done = l.done;
    gate_closed = 0; /* in any case: the runner finishes, then the taker */
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
    pthread_join(runner, NULL);
    pthread_join(taker, NULL);
    *got = done;
    *seen = l.count;
}

/* A backend whose wait for durability is gated. (It used to be waited for under the lock: the
 * second thread waited for the gate, which opens only after 5 s.) */
static void durability_wait_frees_lock(void)
{
    scratch_begin();
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT;
    o.backend_new = gate_new;
    nprobes = 0;
    ec_runtime *rt = new_runtime_with(&o);
    REQUIRE(rt);
    ec_actor *c = spawn(rt, "counter", "c", NULL);
    REQUIRE(c);
    uint64_t before = ec_chain_count(ec_actor_chain(c)), seen = 0;
    int got = 0;
    lock_free_while_waiting(rt, c, &got, &seen);
    CHECK(got);
    CHECK(seen == before + 1); /* the wasm/call, appended before its wait */
    CHECK(ec_chain_count(ec_actor_chain(c)) > before + 2);
    CHECK(check_chain(ec_actor_chain(c)) > 0);
    ec_runtime_free(rt);
    scratch_end();
}

/* The disk under `always`, its fdatasync gated at the file I/O seam: the same holds for the
 * sync itself (it used to run inside the append, under the lock), and every event still had
 * a sync of its own before the next was appended. */
static atomic_uint nsyncs;

static int gated_fdatasync(int fd)
{
    atomic_fetch_add(&nsyncs, 1);
    (void)p_wait_gate(NULL, 0);
    return fdatasync(fd);
}

static void always_sync_frees_lock(void)
{
    scratch_begin();
    ec_vfs v = ec_vfs_posix;
    v.fdatasync = gated_fdatasync;
    ec_vfs_set(&v);
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT;
    o.durability = EC_DURABLE_ALWAYS;
    ec_runtime *rt = new_runtime_with(&o);
    REQUIRE(rt);
    ec_actor *c = spawn(rt, "counter", "c", NULL);
    REQUIRE(c);
    uint64_t before = ec_chain_count(ec_actor_chain(c)), seen = 0;
    unsigned s0 = atomic_load(&nsyncs);
    int got = 0;
    lock_free_while_waiting(rt, c, &got, &seen);
    CHECK(got);
    CHECK(seen == before + 1);
    uint64_t after = ec_chain_count(ec_actor_chain(c));
    CHECK(after > before + 2);
    CHECK(atomic_load(&nsyncs) - s0 >= after - before); /* one sync (at least) per event */
    ec_runtime_free(rt);
    ec_vfs_set(NULL);
    /* Reopened: every event is there, whole. */
    char path[512];
    snprintf(path, sizeof path, "%s/actors/c/chain", t_data);
    ec_chain *ch = NULL;
    REQUIRE_OK(ec_chain_open_path(&ch, path, NULL));
    CHECK(ec_chain_count(ch) == after + 1); /* + actor/stop */
    CHECK(check_chain(ch) > 0);
    ec_chain_free(ch);
    scratch_end();
}

int main(void)
{
    RUN(payload_encoding);
    RUN(payload_vectors);
    RUN(import_check);
    RUN(memory_cap_limit);
    RUN(module_cache);
    RUN(counter_store_and_binding);
    RUN(ping_pong_links);
    RUN(supervisor_restarts_trapping_child);
    RUN(group_links);
    RUN(files_env_random);
    RUN(time_recorded);
    RUN(sync_before_effects);
    RUN(durability_wait_frees_lock);
    RUN(always_sync_frees_lock);
    TEST_END();
}
