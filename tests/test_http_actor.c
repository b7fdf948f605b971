/* tests/test_http_actor.c: actors serving HTTP and making HTTP requests through the runtime
 * (docs/ABI.md section 8), with real requests over loopback from libcurl and raw sockets:
 * what the client gets, and what the actor's chain records. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>

#include <evchain/replay.h>
#include "test_actor_util.h"
#include "http_client_util.h"
#include "store/vfs.h"

/* The runtime's own (src/actor/actor_int.h, which needs the actor layer's build flags): a
 * thread owns an actor between the two, as a call on another thread does. */
int ec_actor_acquire(ec_actor *a);
void ec_actor_release(ec_actor *a);

/* Replay a chain (the kv or httptest module, from the build's cache): every event must be
 * reproduced, so the replayed chain's head is the recorded head. Nothing is sent: the
 * callers stop the services first. */
static int replays_identically(ec_chain *c, const char *module)
{
    char cache[512];
    snprintf(cache, sizeof cache, "%s/actor-cache", build_dir());
    ec_replay_options o = EC_REPLAY_OPTIONS_INIT;
    o.module_path = actor_path(module);
    o.cache_dir = cache;
    ec_replay_report rep;
    memset(&rep, 0, sizeof rep);
    int rc = ec_actor_replay(c, NULL, &o, &rep);
    uint8_t head[EC_HASH_MAX];
    uint64_t seq = 0;
    int same = rc == 0 && !rep.diverged && ec_chain_head(c, head, &seq) == 0 &&
               rep.events == seq + 1 && rep.head_len && memcmp(head, rep.head, rep.head_len) == 0;
    if (!same)
        fprintf(stderr, "replay: rc %d, diverged %d at %llu: %s\n", rc, rep.diverged,
                (unsigned long long)rep.seq, rep.why);
    ec_replay_report_free(&rep);
    return same;
}

/* One request with at most one extra header (http_client_util.h does the work). */
static int req(CURL *easy, unsigned port, const char *method, const char *path, const char *hdr,
               const char *body, size_t body_len, resp *r)
{
    const char *h[2] = {hdr, NULL};
    return http_do(easy, port, method, path, h, body, body_len, r);
}

static unsigned serve(ec_actor *a, size_t body_limit, unsigned timeout_ms)
{
    ec_actor_http_options o = EC_ACTOR_HTTP_OPTIONS_INIT;
    o.body_limit = body_limit;
    o.timeout_ms = timeout_ms;
    unsigned port = 0;
    if (ec_actor_serve_http(a, &o, &port) != 0)
        return 0;
    return port;
}

/* Count events of a type, under the runtime lock (servers may be appending). */
static int count_type(ec_runtime *rt, ec_chain *c, const char *type)
{
    ec_runtime_lock(rt);
    int n = 0;
    while (find_event(c, type, n, NULL, NULL) == 0)
        n++;
    ec_runtime_unlock(rt);
    return n;
}

/* The JSON of the n-th event of a type (malloc'd), under the lock. */
static char *event_json(ec_runtime *rt, ec_chain *c, const char *type, int n)
{
    char *js = NULL;
    ec_runtime_lock(rt);
    if (find_event(c, type, n, &js, NULL) != 0)
        js = NULL;
    ec_runtime_unlock(rt);
    return js;
}

/* The JSON of the n-th event of a type once it exists (up to 5 s): the server may answer a
 * refusal before its worker thread has recorded it. */
static char *await_json(ec_runtime *rt, ec_chain *c, const char *type, int n)
{
    char *js = NULL;
    for (int i = 0; i < 500 && !js; i++)
        if (!(js = event_json(rt, c, type, n)))
            usleep(10000);
    return js;
}

/* Every served request is one unbroken stretch: http/request, wasm/call (linking it), the
 * actor's events, then http/response and its result before wasm/result; nothing of another
 * request in between. Returns the number of requests, -1 on a break. */
static int check_nesting(ec_chain *c)
{
    ec_iter *it;
    ec_event ev;
    if (ec_iter_new(&it, c, 0))
        return -1;
    int state = 0, n = 0, bad = 0; /* 0 idle, 1 after http/request, 2 in the call */
    uint8_t req_hash[64];
    while (!bad && ec_iter_next(it, &ev) == 0) {
        char t[64];
        snprintf(t, sizeof t, "%.*s", (int)ev.type_len, ev.type);
        if (strcmp(t, "http/request") == 0) {
            bad = state != 0;
            memcpy(req_hash, ev.hash, 32);
            state = 1;
        } else if (state == 1) {
            char *js = NULL, hex[65];
            ec_hex_encode(hex, req_hash, 32);
            bad = strcmp(t, "wasm/call") != 0 || ec_payload_to_json(t, ev.data, ev.data_len, &js) ||
                  !strstr(js, "\"fn\":\"ec_handle_http\"") || !strstr(js, hex);
            free(js);
            state = 2;
        } else if (state == 2 && (strcmp(t, "wasm/result") == 0 || strcmp(t, "wasm/trap") == 0)) {
            state = 0;
            n++;
        }
    }
    ec_iter_free(it);
    return bad || state ? -1 : n;
}

static void kv_over_loopback(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "kv", "kv", NULL);
    REQUIRE(a);
    unsigned port = serve(a, 0, 0);
    REQUIRE(port);
    resp r;
    CHECK(req(NULL, port, "PUT", "/kv/greeting", NULL, "{\"hi\":1}", 8, &r) == 0);
    CHECK(r.status == 201 && strcmp(r.body, "{\"ok\":true}") == 0);
    CHECK(strstr(r.headers, "Content-Type: application/json"));
    CHECK(req(NULL, port, "PUT", "/kv/greeting", NULL, "[2]", 3, &r) == 0 && r.status == 200);
    CHECK(req(NULL, port, "PUT", "/kv/other", NULL, "3", 1, &r) == 0 && r.status == 201);
    CHECK(req(NULL, port, "GET", "/kv/greeting?x=1", NULL, NULL, 0, &r) == 0);
    CHECK(r.status == 200 && strcmp(r.body, "[2]") == 0);
    CHECK(req(NULL, port, "GET", "/kv", NULL, NULL, 0, &r) == 0);
    CHECK(r.status == 200 && strcmp(r.body, "{\"keys\":[\"greeting\",\"other\"]}") == 0);
    CHECK(req(NULL, port, "DELETE", "/kv/greeting", NULL, NULL, 0, &r) == 0 && r.status == 200);
    CHECK(req(NULL, port, "GET", "/kv/greeting", NULL, NULL, 0, &r) == 0 && r.status == 404);
    CHECK(req(NULL, port, "GET", "/kv/bad%20key", NULL, NULL, 0, &r) == 0 && r.status == 400);
    CHECK(req(NULL, port, "POST", "/kv", NULL, "x", 1, &r) == 0 && r.status == 405);
    ec_chain *c = ec_actor_chain(a);
    ec_runtime_lock(rt);
    CHECK(check_chain(c) > 0); /* every payload decodes (http events through the codec) */
    CHECK(check_nesting(c) == 9);
    ec_links_result lr;
    CHECK_OK(ec_actor_check_links(&c, 1, &lr)); /* each wasm/call links its http/request */
    CHECK(lr.checked >= 9);
    ec_runtime_unlock(rt);
    char *js = event_json(rt, c, "http/request", 0);
    CHECK(js && strstr(js, "\"method\":\"PUT\"") && strstr(js, "\"target\":\"/kv/greeting\"") &&
          strstr(js, "\"body\":\"{\\\"hi\\\":1}\""));
    free(js);
    js = event_json(rt, c, "http/response", 0);
    CHECK(js && strstr(js, "\"status\":201") && strstr(js, "application/json"));
    free(js);
    js = event_json(rt, c, "http/request", 3);
    CHECK(js && strstr(js, "\"query\":\"x=1\""));
    free(js);
    /* The data is in the store: a restarted runtime's kv (same data dir) finds it. */
    ec_runtime_free(rt);
    rt = new_runtime(0);
    REQUIRE(rt);
    a = spawn(rt, "kv", "kv", NULL);
    REQUIRE(a);
    port = serve(a, 0, 0);
    REQUIRE(port);
    CHECK(req(NULL, port, "GET", "/kv/other", NULL, NULL, 0, &r) == 0);
    CHECK(r.status == 200 && strcmp(r.body, "3") == 0);
    ec_runtime_free(rt);
    scratch_end();
}

/* fdatasyncs at the file I/O seam, counted. */
static atomic_uint nsyncs;

static int counted_fdatasync(int fd)
{
    atomic_fetch_add(&nsyncs, 1);
    return fdatasync(fd);
}

/* fdatasync through fn from here on (until ec_vfs_set(NULL)): the disk backends opened
 * after this. */
static void seam_fdatasync(int (*fn)(int))
{
    static ec_vfs v;
    v = ec_vfs_posix;
    v.fdatasync = fn;
    ec_vfs_set(&v);
}

static void count_syncs(void)
{
    seam_fdatasync(counted_fdatasync);
}

/* On disk under batch: replies are held until their events are durable (deferred appends),
 * one sync covering the events of a request or more; under always, every event has a sync
 * of its own, served requests' too. The chain reads back whole. */
static void kv_on_disk(ec_durability durability)
{
    scratch_begin();
    count_syncs();
    unsigned s0 = atomic_load(&nsyncs);
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT; /* chains on disk */
    o.durability = durability;
    ec_runtime *rt = new_runtime_with(&o);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "kv", "kv", NULL);
    REQUIRE(a);
    unsigned port = serve(a, 0, 0);
    REQUIRE(port);
    CURL *easy = curl_easy_init();
    resp r;
    CHECK(req(easy, port, "PUT", "/kv/k", NULL, "\"v\"", 3, &r) == 0 && r.status == 201);
    for (int i = 0; i < 20; i++)
        CHECK(req(easy, port, "GET", "/kv/k", NULL, NULL, 0, &r) == 0 && r.status == 200);
    CHECK(req(easy, port, "GET", "/kv/none", NULL, NULL, 0, &r) == 0 && r.status == 404);
    static char big[1 << 20 | 1];
    memset(big, 'x', sizeof big);
    CHECK(req(easy, port, "PUT", "/kv/big", NULL, big, sizeof big, &r) == 0 && r.status == 413);
    curl_easy_cleanup(easy);
    char *js = await_json(rt, ec_actor_chain(a), "http/refused", 0); /* may follow the 413 */
    CHECK(js && strstr(js, "\"status\":413"));
    free(js);
    ec_runtime_lock(rt);
    CHECK(check_nesting(ec_actor_chain(a)) == 22);
    uint64_t n = ec_chain_count(ec_actor_chain(a));
    ec_runtime_unlock(rt);
    ec_runtime_free(rt);
    ec_vfs_set(NULL);
    unsigned syncs = atomic_load(&nsyncs) - s0;
    if (durability == EC_DURABLE_ALWAYS)
        CHECK(syncs >= n);
    else /* 22 requests, 5 or 6 events each: a sync per request at most, and a few more */
        CHECK(syncs < n / 2);
    /* Reopened from disk: every event is there and verifies. */
    char path[512];
    snprintf(path, sizeof path, "%s/actors/kv/chain", t_data);
    ec_chain *c = NULL;
    REQUIRE_OK(ec_chain_open_path(&c, path, NULL));
    CHECK(ec_chain_count(c) == n + 1); /* + actor/stop */
    ec_verify_result vr;
    CHECK_OK(ec_chain_verify(c, NULL, &vr));
    /* The server is gone: the replay answers from the chain (the refusal copied). */
    CHECK(replays_identically(c, "kv"));
    ec_chain_free(c);
    scratch_end();
}

static void kv_on_disk_batch(void)
{
    kv_on_disk(EC_DURABLE_BATCH);
}

static void kv_on_disk_always(void)
{
    kv_on_disk(EC_DURABLE_ALWAYS);
}

/* fdatasync held at the file I/O seam while the gate is closed; entries counted. */
static pthread_mutex_t sgate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sgate_cv = PTHREAD_COND_INITIALIZER;
static int sgate_closed, sgate_entered;

static int gated_fdatasync(int fd)
{
    pthread_mutex_lock(&sgate_mu);
    sgate_entered++;
    pthread_cond_broadcast(&sgate_cv);
    while (sgate_closed)
        pthread_cond_wait(&sgate_cv, &sgate_mu);
    pthread_mutex_unlock(&sgate_mu);
    return fdatasync(fd);
}

static void sgate_set(int closed)
{
    pthread_mutex_lock(&sgate_mu);
    sgate_closed = closed;
    pthread_cond_broadcast(&sgate_cv);
    pthread_mutex_unlock(&sgate_mu);
}

/* Until an fdatasync has been entered since the count was `since` (3 s at most). */
static int sgate_await(int since)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 3;
    pthread_mutex_lock(&sgate_mu);
    while (sgate_entered == since && pthread_cond_timedwait(&sgate_cv, &sgate_mu, &until) == 0)
        ;
    int ok = sgate_entered != since;
    pthread_mutex_unlock(&sgate_mu);
    return ok;
}

static int sgate_count(void)
{
    pthread_mutex_lock(&sgate_mu);
    int n = sgate_entered;
    pthread_mutex_unlock(&sgate_mu);
    return n;
}

/* The server's own answers (400, 413, a trapped actor's 500) leave only once their
 * http/refused (and for the trap, the trap) is durable: with the chain's fdatasync held at
 * the seam, no byte of the answer arrives; released, the answer comes. Under batch,
 * always and effects (sync_effects): each used to send it first. */
static void refusals_durable_before_sent_with(ec_durability durability, int sync_effects)
{
    scratch_begin();
    seam_fdatasync(gated_fdatasync);
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT; /* chains on disk */
    o.durability = durability;
    o.sync_effects = sync_effects;
    ec_runtime *rt = new_runtime_with(&o);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "httptest", "t", NULL);
    REQUIRE(a);
    unsigned port = serve(a, 1000, 0);
    REQUIRE(port);
    static const struct {
        const char *req;
        int status;
    } cases[] = {
        {"GET /echo HTTP/1.1\r\n\r\n", 400},
        {"PUT /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000\r\n\r\n", 413},
        {"GET /trap HTTP/1.1\r\nHost: a\r\n\r\n", 500},
    };
    for (int i = 0; i < 3; i++) {
        int since = sgate_count();
        sgate_set(1);
        int fd = http_raw_send(port, cases[i].req, strlen(cases[i].req));
        CHECK(fd >= 0); /* not REQUIRE: the gate must open again whatever happens */
        if (fd < 0)
            break;
        CHECK(sgate_await(since)); /* the record's sync began... */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        CHECK(poll(&p, 1, 50) == 0); /* ...and holds the answer back */
        sgate_set(0);
        CHECK(http_raw_status_close(fd) == cases[i].status);
        char *js = event_json(rt, ec_actor_chain(a), "http/refused", i);
        char want[32];
        snprintf(want, sizeof want, "\"status\":%d", cases[i].status);
        CHECK(js && strstr(js, want));
        free(js);
    }
    CHECK(count_type(rt, ec_actor_chain(a), "wasm/trap") == 1);
    ec_runtime_free(rt);
    ec_vfs_set(NULL);
    scratch_end();
}

static void refusals_durable_before_sent(void)
{
    refusals_durable_before_sent_with(EC_DURABLE_BATCH, 0);
    refusals_durable_before_sent_with(EC_DURABLE_ALWAYS, 0);
    refusals_durable_before_sent_with(EC_DURABLE_BATCH, 1);
}

/* Raw bytes to a port; the answer's status. */
static int raw_status(unsigned port, const char *request)
{
    return http_raw_status_close(http_raw_send(port, request, strlen(request)));
}

static void failures_get_clear_answers(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "httptest", "t1", NULL);
    ec_actor *b = spawn(rt, "httptest", "t2", NULL);
    REQUIRE(a && b);
    unsigned pa = serve(a, 1000, 0), pb = serve(b, 0, 0);
    REQUIRE(pa && pb);
    ec_chain *c = ec_actor_chain(a);
    resp r;
    /* A header and the request line reach the actor. */
    CHECK(req(NULL, pa, "GET", "/echo", "X-Tag: hello", NULL, 0, &r) == 0);
    CHECK(r.status == 200 && strcmp(r.body, "GET /echo 0") == 0 &&
          strstr(r.headers, "X-Tag: hello"));
    /* Returning without http_respond: 500, recorded as a refusal naming why. */
    CHECK(req(NULL, pa, "GET", "/silent", NULL, NULL, 0, &r) == 0 && r.status == 500);
    char *js = await_json(rt, c, "http/refused", 0);
    CHECK(js && strstr(js, "\"status\":500") && strstr(js, "without http_respond"));
    free(js);
    /* A second answer is refused (ESTATE) without a second record; the first is sent. */
    CHECK(req(NULL, pa, "GET", "/twice", NULL, NULL, 0, &r) == 0);
    CHECK(r.status == 200 && strcmp(r.body, "first") == 0);
    js = event_json(rt, c, "wasm/result", 3); /* ec_init, echo, silent, twice */
    CHECK(js && strstr(js, "\"ret\":0"));
    free(js);
    CHECK(count_type(rt, c, "http/response") == 2); /* echo and the first of twice */
    /* A malformed payload is EINVAL to the actor, which then answers properly. */
    CHECK(req(NULL, pa, "GET", "/garbage", NULL, NULL, 0, &r) == 0);
    CHECK(r.status == 200 && strstr(r.body, "refused"));
    /* Over the body limit: 413, a lone http/refused; the actor never sees it. */
    static char big[5000];
    memset(big, 'x', sizeof big);
    int calls = count_type(rt, c, "wasm/call");
    CHECK(req(NULL, pa, "PUT", "/echo", NULL, big, sizeof big, &r) == 0 && r.status == 413);
    js = await_json(rt, c, "http/refused", 1);
    CHECK(js && strstr(js, "\"status\":413"));
    free(js);
    /* Malformed (HTTP/1.1 without Host): 400, recorded. */
    CHECK(raw_status(pa, "GET /echo HTTP/1.1\r\n\r\n") == 400);
    js = await_json(rt, c, "http/refused", 2);
    CHECK(js && strstr(js, "\"status\":400"));
    free(js);
    CHECK(count_type(rt, c, "wasm/call") == calls);
    /* A trap after responding: 500 (the reply is never sent), the trap and the refusal are
     * in the chain; then the trapped actor answers 500 to everything; the server stays up. */
    CHECK(req(NULL, pa, "GET", "/trap", NULL, NULL, 0, &r) == 0 && r.status == 500);
    CHECK(count_type(rt, c, "wasm/trap") == 1);
    js = await_json(rt, c, "http/refused", 3);
    CHECK(js && strstr(js, "\"status\":500") && strstr(js, "trap"));
    free(js);
    CHECK(req(NULL, pa, "GET", "/echo", NULL, NULL, 0, &r) == 0 && r.status == 500);
    CHECK(ec_actor_get_state(a) == EC_ACTOR_TRAPPED);
    /* The other actor is untouched. */
    CHECK(req(NULL, pb, "GET", "/echo", NULL, NULL, 0, &r) == 0 && r.status == 200);
    /* http_respond outside ec_handle_http: ESTATE, nothing recorded. */
    int responses = count_type(rt, ec_actor_chain(b), "http/response");
    ec_runtime_lock(rt);
    CHECK_OK(ec_runtime_send(rt, "t2", "hi", 2));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    ec_runtime_unlock(rt);
    CHECK(count_type(rt, ec_actor_chain(b), "http/response") == responses);
    js = event_json(rt, ec_actor_chain(b), "wasm/result", 2); /* init, echo, the message */
    CHECK(js && strstr(js, "\"fn\":\"ec_handle_message\",\"ret\":-7"));
    free(js);
    ec_runtime_lock(rt);
    CHECK(check_chain(c) > 0);
    CHECK(check_chain(ec_actor_chain(b)) > 0);
    /* Refused answers (ESTATE, EINVAL) were never recorded: a replay refuses them the same
     * way; the trap and the server's refusals are reproduced too. */
    CHECK(replays_identically(c, "httptest"));
    CHECK(replays_identically(ec_actor_chain(b), "httptest"));
    CHECK(!replays_identically(c, "kv")); /* and it can fail: another module is refused */
    ec_runtime_unlock(rt);
    ec_runtime_free(rt);
    scratch_end();
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Until the n-th event of a type exists (up to 120 s: a call that runs out of fuel took about
 * 1 s natively, over 10 s under TSan on a loaded machine; the loop ends as soon as it is
 * there); its JSON. */
static char *await_long(ec_runtime *rt, ec_chain *c, const char *type, int n)
{
    char *js = NULL;
    for (int i = 0; i < 2400 && !(js = event_json(rt, c, type, n)); i++)
        usleep(50000);
    return js;
}

/* A slow actor: the client gets 504 at the deadline, and so does a request waiting behind it.
 * Both answers are in the chain before the call ends (between two of its events: the server's
 * on_late, HTTP.md section 1; they used to be recorded after it), the late end after; the
 * chain replays identically. */
static void slow_actor_times_out(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(300000000); /* the spin runs out of fuel in about 1 s */
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "httptest", "slow", NULL);
    REQUIRE(a);
    unsigned port = serve(a, 0, 200);
    REQUIRE(port);
    ec_chain *c = ec_actor_chain(a);
    static const char slow[] = "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n",
                      echo[] = "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n";
    double t0 = now_s();
    int f1 = http_raw_send(port, slow, strlen(slow));
    CHECK(f1 >= 0);
    /* The second arrives once the first runs (its wasm/call), so it waits behind it. */
    for (int i = 0; i < 2400 && count_type(rt, c, "wasm/call") < 2; i++)
        usleep(5000);
    int f2 = http_raw_send(port, echo, strlen(echo));
    CHECK(f2 >= 0);
    CHECK(http_raw_status_close(f1) == 504);
    double took = now_s() - t0;
    CHECK(took >= 0.15 && took < 3);
    CHECK(http_raw_status_close(f2) == 504);
    /* The handler ends (out of fuel: a trap) and its discarded reply is recorded. */
    char *js = await_long(rt, c, "http/refused", 2);
    CHECK(js && strstr(js, "\"status\":504") && strstr(js, "discarded"));
    free(js);
    uint64_t call = 0, late = 0, waited = 0, trap = 0, end = 0;
    ec_runtime_lock(rt);
    CHECK(find_event(c, "wasm/call", 1, NULL, &call) == 0);
    CHECK(find_event(c, "http/refused", 0, &js, &late) == 0 && strstr(js, "still running"));
    free(js);
    CHECK(find_event(c, "http/refused", 1, &js, &waited) == 0 && strstr(js, "waited for"));
    free(js);
    CHECK(find_event(c, "wasm/trap", 0, NULL, &trap) == 0);
    CHECK(find_event(c, "http/refused", 2, NULL, &end) == 0);
    CHECK(find_event(c, "http/refused", 3, NULL, NULL) != 0); /* the waiting one: once */
    CHECK(call < late && late < waited && waited < trap && trap < end);
    CHECK(count_type(rt, c, "http/request") == 1); /* the waiting one never reached the actor */
    CHECK(check_chain(c) > 0);
    CHECK(replays_identically(c, "httptest"));
    ec_runtime_unlock(rt);
    ec_runtime_free(rt);
    scratch_end();
}

/* The 504 of a call still running leaves only once its http/refused is in the chain and
 * durable: with the chain's fdatasync held at the seam from the call's start, no byte of it
 * arrives, neither before the record exists nor while its sync is held; released, the 504
 * comes. It lies between two events of the call (for /busy, among its host calls), the
 * discarded reply after the call; the chain read back from disk replays identically. The
 * 504 used to be sent at the deadline and recorded after the call. */
static void late_504_durable_before_sent_with(ec_durability durability, int sync_effects,
                                              const char *path)
{
    scratch_begin();
    seam_fdatasync(gated_fdatasync);
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT; /* chains on disk */
    o.durability = durability;
    o.sync_effects = sync_effects;
    o.fuel = 300000000;
    ec_runtime *rt = new_runtime_with(&o);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "httptest", "t", NULL);
    REQUIRE(a);
    unsigned port = serve(a, 0, 200);
    REQUIRE(port);
    ec_chain *c = ec_actor_chain(a);
    char rq[64];
    snprintf(rq, sizeof rq, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", path);
    int fd = http_raw_send(port, rq, strlen(rq));
    CHECK(fd >= 0);
    for (int i = 0; i < 2400 && count_type(rt, c, "wasm/call") < 2; i++)
        usleep(5000);
    sgate_set(1); /* not REQUIRE from here: the gate must open again whatever happens */
    int recorded = 0, early = 0;
    for (int i = 0; i < 2400 && !recorded && fd >= 0; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        early |= poll(&p, 1, 0) != 0;
        if (!(recorded = count_type(rt, c, "http/refused") > 0))
            usleep(5000);
    }
    CHECK(recorded); /* at the deadline, while the call runs */
    CHECK(!early);   /* no answer before its record */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    CHECK(fd >= 0 && poll(&p, 1, 100) == 0); /* nor while its sync is held */
    sgate_set(0);
    CHECK(http_raw_status_close(fd) == 504);
    char *js = await_long(rt, c, "http/refused", 1);
    CHECK(js && strstr(js, "discarded"));
    free(js);
    uint64_t call = 0, late = 0, trap = 0, end = 0;
    ec_runtime_lock(rt);
    CHECK(find_event(c, "wasm/call", 1, NULL, &call) == 0);
    CHECK(find_event(c, "http/refused", 0, &js, &late) == 0 && strstr(js, "still running"));
    free(js);
    CHECK(find_event(c, "wasm/trap", 0, NULL, &trap) == 0);
    CHECK(find_event(c, "http/refused", 1, NULL, &end) == 0);
    CHECK(call < late && late < trap && trap < end);
    if (strcmp(path, "/busy") == 0) /* among the call's host calls */
        CHECK(find_event(c, "time/now", 0, NULL, &call) == 0 && call < late);
    ec_runtime_unlock(rt);
    ec_runtime_free(rt);
    ec_vfs_set(NULL);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/actors/t/chain", t_data);
    ec_chain *back = NULL;
    REQUIRE_OK(ec_chain_open_path(&back, dir, NULL));
    CHECK(replays_identically(back, "httptest"));
    ec_chain_free(back);
    scratch_end();
}

static void late_504_durable_before_sent(void)
{
    late_504_durable_before_sent_with(EC_DURABLE_BATCH, 0, "/busy");
    late_504_durable_before_sent_with(EC_DURABLE_ALWAYS, 0, "/slow");
    late_504_durable_before_sent_with(EC_DURABLE_BATCH, 1, "/busy");
}

/* Until the first http/refused exists (12 s at most), noting whether any byte reached fd
 * before: 1 recorded, 0 not; *early set when the answer came first. */
static int await_refusal_unsent(ec_runtime *rt, ec_chain *c, int fd, int *early)
{
    int recorded = 0;
    *early = 0;
    for (int i = 0; i < 2400 && !recorded && !*early && fd >= 0; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        *early = poll(&p, 1, 0) != 0;
        if (!(recorded = count_type(rt, c, "http/refused") > 0))
            usleep(5000);
    }
    return recorded;
}

/* A reply still held at its deadline (its events' sync held at the seam) gets 504, and that
 * 504 leaves only once its http/refused ("not released") is in the chain and durable: it
 * waits for the same sync as the reply. The record follows the call (wasm/result), the reply
 * is discarded without a second record, and the chain read back replays identically. The 504
 * used to be sent at the deadline and recorded once the sync returned. */
static void held_504_durable_before_sent_with(ec_durability durability, int sync_effects)
{
    scratch_begin();
    seam_fdatasync(gated_fdatasync);
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT; /* chains on disk */
    o.durability = durability;
    o.sync_effects = sync_effects;
    ec_runtime *rt = new_runtime_with(&o);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "httptest", "t", NULL);
    REQUIRE(a);
    unsigned port = serve(a, 0, 200);
    REQUIRE(port);
    ec_chain *c = ec_actor_chain(a);
    static const char rq[] = "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n";
    int since = sgate_count();
    sgate_set(1); /* not REQUIRE from here: the gate must open again whatever happens */
    int fd = http_raw_send(port, rq, strlen(rq));
    CHECK(fd >= 0);
    CHECK(sgate_await(since)); /* the reply's sync began, and holds it */
    int early = 0, recorded = await_refusal_unsent(rt, c, fd, &early);
    CHECK(recorded); /* at the deadline */
    CHECK(!early);   /* no answer before its record */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    CHECK(fd >= 0 && poll(&p, 1, 100) == 0); /* nor while its sync is held */
    sgate_set(0);
    CHECK(http_raw_status_close(fd) == 504);
    usleep(100000); /* the release returned meanwhile: the reply is discarded, not recorded */
    uint64_t result = 0, late = 0;
    char *js = NULL;
    ec_runtime_lock(rt);
    CHECK(find_event(c, "wasm/result", 1, NULL, &result) == 0);
    CHECK(find_event(c, "http/refused", 0, &js, &late) == 0 && strstr(js, "not released"));
    free(js);
    CHECK(result < late);
    CHECK(find_event(c, "http/refused", 1, NULL, NULL) != 0);
    ec_runtime_unlock(rt);
    ec_runtime_free(rt);
    ec_vfs_set(NULL);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/actors/t/chain", t_data);
    ec_chain *back = NULL;
    REQUIRE_OK(ec_chain_open_path(&back, dir, NULL));
    CHECK(replays_identically(back, "httptest"));
    ec_chain_free(back);
    scratch_end();
}

static void held_504_durable_before_sent(void)
{
    held_504_durable_before_sent_with(EC_DURABLE_BATCH, 0);
    held_504_durable_before_sent_with(EC_DURABLE_BATCH, 1);
}

static void *stop_http_main(void *p)
{
    ec_runtime_stop_http(p);
    return NULL;
}

/* Stopping the server while a call runs: the request waiting behind it gets 503, which leaves
 * only once its http/refused is in the chain and durable (the chain's sync held at the seam:
 * no byte before), without waiting for the running call; the record lies among that call's
 * events, and the chain read back replays identically. The 503 used to be sent at once and
 * recorded after. */
static void stop_503_durable_before_sent(void)
{
    scratch_begin();
    seam_fdatasync(gated_fdatasync);
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT; /* chains on disk, batch */
    o.fuel = 300000000;                             /* /slow runs out of fuel in about 1 s */
    ec_runtime *rt = new_runtime_with(&o);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "httptest", "t", NULL);
    REQUIRE(a);
    unsigned port = serve(a, 0, 120000); /* no 504: the call may take long under sanitizers */
    REQUIRE(port);
    ec_chain *c = ec_actor_chain(a);
    static const char slow[] = "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n",
                      echo[] = "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n";
    /* Connected first: accepted (in order) before the stop stops accepting. */
    int f2 = http_raw_send(port, "", 0);
    int f1 = http_raw_send(port, slow, strlen(slow));
    CHECK(f1 >= 0 && f2 >= 0);
    for (int i = 0; i < 2400 && count_type(rt, c, "wasm/call") < 2; i++)
        usleep(5000);
    /* Queued behind the call; should it complete only once the stop began, it is refused 503
     * all the same, the same way. */
    CHECK(f2 >= 0 && send(f2, echo, strlen(echo), MSG_NOSIGNAL) == (ssize_t)strlen(echo));
    usleep(50000);
    sgate_set(1); /* not REQUIRE from here: the gate must open again whatever happens */
    pthread_t th;
    int started = pthread_create(&th, NULL, stop_http_main, rt) == 0;
    CHECK(started);
    int early = 0, recorded = await_refusal_unsent(rt, c, f2, &early);
    CHECK(recorded);
    CHECK(!early);
    struct pollfd p = {.fd = f2, .events = POLLIN};
    CHECK(f2 >= 0 && poll(&p, 1, 100) == 0);
    sgate_set(0);
    CHECK(http_raw_status_close(f2) == 503);
    if (started)
        pthread_join(th, NULL); /* once the running call ended (out of fuel) */
    close(f1);                  /* its answer (the trap's 500) is not what this test checks */
    uint64_t call = 0, stopped = 0, trap = 0;
    char *js = NULL;
    ec_runtime_lock(rt);
    CHECK(find_event(c, "wasm/call", 1, NULL, &call) == 0);
    CHECK(find_event(c, "http/refused", 0, &js, &stopped) == 0 && strstr(js, "\"status\":503"));
    free(js);
    CHECK(find_event(c, "wasm/trap", 0, NULL, &trap) == 0);
    CHECK(call < stopped && stopped < trap);
    CHECK(count_type(rt, c, "http/request") == 1);
    ec_runtime_unlock(rt);
    ec_runtime_free(rt);
    ec_vfs_set(NULL);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/actors/t/chain", t_data);
    ec_chain *back = NULL;
    REQUIRE_OK(ec_chain_open_path(&back, dir, NULL));
    CHECK(replays_identically(back, "httptest"));
    ec_chain_free(back);
    scratch_end();
}

/* A deadline that passes while the server's worker still waits for the actor (busy on another
 * thread: here the test's own, which owns it) is answered 504 and recorded as a request not
 * handled, a lone http/refused; once the actor is free, nothing of that request is recorded
 * or run. The chain used to show the refusal ("the handler was still running") before the
 * http/request it answered, then the request, a call and its discarded reply. */
static void late_504_before_handler_began(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "httptest", "t", NULL);
    REQUIRE(a);
    unsigned port = serve(a, 0, 200);
    REQUIRE(port);
    ec_chain *c = ec_actor_chain(a);
    REQUIRE_OK(ec_actor_acquire(a));
    static const char rq[] = "GET /echo HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK(raw_status(port, rq) == 504);
    char *js = event_json(rt, c, "http/refused", 0);
    CHECK(js && strstr(js, "\"status\":504") && strstr(js, "had not begun"));
    free(js);
    CHECK(count_type(rt, c, "http/request") == 0);
    ec_actor_release(a);
    /* Handled after the first one's job ended: by then the worker has seen it answered. */
    CHECK(raw_status(port, rq) == 200);
    CHECK(count_type(rt, c, "http/request") == 1);
    CHECK(count_type(rt, c, "http/refused") == 1);
    uint64_t refused = 0, request = 0;
    ec_runtime_lock(rt);
    CHECK(find_event(c, "http/refused", 0, NULL, &refused) == 0);
    CHECK(find_event(c, "http/request", 0, NULL, &request) == 0);
    CHECK(refused < request);
    CHECK(check_nesting(c) == 1);
    CHECK(replays_identically(c, "httptest"));
    ec_runtime_unlock(rt);
    ec_runtime_free(rt);
    scratch_end();
}

/* A plain HTTP service (not an actor) for the actors' requests to reach. */
static int svc_handler(void *ctx, const ec_http_msg *m, ec_http_reply *reply)
{
    (void)ctx, (void)m;
    ec_http_reply_header(reply, "Content-Type", "text/plain");
    return ec_http_reply_body(reply, "hello\n", 6);
}

static void requests_from_actors(void)
{
    scratch_begin();
    ec_http_server_options so = EC_HTTP_SERVER_OPTIONS_INIT;
    ec_http_server *svc = NULL;
    REQUIRE_OK(ec_http_server_start(&svc, &so, svc_handler, NULL));
    unsigned sp = ec_http_server_port(svc);
    /* A closed port: bind one, note it, close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
            getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    unsigned closed = ntohs(sa.sin_port);
    close(fd);
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    char allow0[64], u_ok[128], u_denied[128], u_refused[128];
    snprintf(allow0, sizeof allow0, "127.0.0.1:%u", sp);
    const char *allow[] = {allow0, "localhost"};
    REQUIRE_OK(ec_runtime_http_allow(rt, allow, 2, 2000));
    snprintf(u_ok, sizeof u_ok, "http://127.0.0.1:%u/data", sp);
    snprintf(u_denied, sizeof u_denied, "http://127.0.0.1:%u/data", closed);
    snprintf(u_refused, sizeof u_refused, "http://localhost:%u/", closed);
    ec_actor *ok = spawn(rt, "httptest", "ok", u_ok);
    ec_actor *den = spawn(rt, "httptest", "denied", u_denied);
    ec_actor *ref = spawn(rt, "httptest", "refused", u_refused);
    REQUIRE(ok && den && ref);
    unsigned p1 = serve(ok, 0, 0), p2 = serve(den, 0, 0), p3 = serve(ref, 0, 0);
    REQUIRE(p1 && p2 && p3);
    resp r;
    char *js;
    CHECK(req(NULL, p1, "GET", "/fetch", NULL, NULL, 0, &r) == 0);
    CHECK(r.status == 200 && strcmp(r.body, "status 200 hello\n") == 0);
    CHECK(req(NULL, p2, "GET", "/fetch", NULL, NULL, 0, &r) == 0);
    CHECK(r.status == 200 && strcmp(r.body, "error 4") == 0); /* denied: nothing sent */
    /* A malformed request payload: EINVAL, nothing recorded; a buffer too small: ETOOBIG,
     * recorded (the request went out). */
    int before = count_type(rt, ec_actor_chain(ok), "http/client-request");
    CHECK(req(NULL, p1, "GET", "/badreq", NULL, NULL, 0, &r) == 0);
    CHECK(r.status == 200 && strstr(r.body, "EINVAL"));
    CHECK(count_type(rt, ec_actor_chain(ok), "http/client-request") == before);
    CHECK(req(NULL, p1, "GET", "/small", NULL, NULL, 0, &r) == 0);
    CHECK(r.status == 200 && strstr(r.body, "ETOOBIG"));
    js = event_json(rt, ec_actor_chain(ok), "http/client-request.result", 1);
    CHECK(js && strstr(js, "\"ret\":-4") && strstr(js, "buffer holds 16"));
    free(js);
    CHECK(req(NULL, p3, "GET", "/fetch", NULL, NULL, 0, &r) == 0);
    CHECK(r.status == 200 && (strcmp(r.body, "error 1") == 0 || strcmp(r.body, "error 6") == 0));
    /* The chain: the request as the actor made it, then the outcome it was given. */
    js = event_json(rt, ec_actor_chain(ok), "http/client-request", 0);
    CHECK(js && strstr(js, "\"http\":\"client-request\"") && strstr(js, u_ok));
    free(js);
    js = event_json(rt, ec_actor_chain(ok), "http/client-request.result", 0);
    CHECK(js && strstr(js, "\"out\":\"6576687474700102")); /* a kind 2 payload, as given */
    free(js);
    js = event_json(rt, ec_actor_chain(den), "http/client-request.result", 0);
    /* kind 5, the error: all ASCII here, so the payload is recorded as text (ABI.md 4) */
    CHECK(js && strstr(js, "\"out\":\"evhttp\\u0001\\u0005\\u0004") &&
          strstr(js, "not on the allow-list"));
    free(js);
    /* The service stopped (and the lock held: no request runs): each actor's replay gets
     * every answer from its chain, identical. */
    ec_http_server_stop(svc);
    ec_runtime_lock(rt);
    CHECK(check_chain(ec_actor_chain(ok)) > 0 && check_chain(ec_actor_chain(den)) > 0);
    CHECK(replays_identically(ec_actor_chain(ok), "httptest"));
    CHECK(replays_identically(ec_actor_chain(den), "httptest"));
    CHECK(replays_identically(ec_actor_chain(ref), "httptest"));
    ec_runtime_unlock(rt);
    ec_runtime_free(rt);
    scratch_end();
}

/* Concurrent clients on two actors, and messages from the main thread meanwhile: each chain
 * stays one unbroken stretch per request. */
typedef struct client_arg {
    unsigned port;
    int n, ok;
} client_arg;

static void *client(void *p)
{
    client_arg *c = p;
    CURL *easy = curl_easy_init();
    resp *r = malloc(sizeof *r);
    for (int i = 0; easy && r && i < c->n; i++)
        if (req(easy, c->port, "GET", "/kv", NULL, NULL, 0, r) == 0 && r->status == 200)
            c->ok++;
    free(r);
    curl_easy_cleanup(easy);
    return NULL;
}

static void concurrent_clients(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *k1 = spawn(rt, "kv", "k1", NULL), *k2 = spawn(rt, "kv", "k2", NULL);
    ec_actor *cnt = spawn(rt, "counter", "counter", NULL);
    REQUIRE(k1 && k2 && cnt);
    unsigned p1 = serve(k1, 0, 0), p2 = serve(k2, 0, 0);
    REQUIRE(p1 && p2);
    enum { T = 4, N = 15 };
    pthread_t th[T];
    client_arg ca[T];
    for (int i = 0; i < T; i++) {
        ca[i] = (client_arg){i % 2 ? p2 : p1, N, 0};
        pthread_create(&th[i], NULL, client, &ca[i]);
    }
    for (int i = 0; i < 20; i++) {
        ec_runtime_lock(rt);
        CHECK_OK(ec_runtime_send(rt, "counter", "inc", 3));
        CHECK_OK(ec_runtime_run(rt, 0, NULL));
        ec_runtime_unlock(rt);
        usleep(1000);
    }
    int total = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        total += ca[i].ok;
    }
    CHECK(total == T * N);
    ec_runtime_lock(rt);
    CHECK(check_nesting(ec_actor_chain(k1)) == 2 * N);
    CHECK(check_nesting(ec_actor_chain(k2)) == 2 * N);
    CHECK(count_type(rt, ec_actor_chain(cnt), "wasm/result") == 21);
    ec_runtime_unlock(rt);
    ec_runtime_free(rt);
    scratch_end();
}

/* One GET on a thread of its own. */
typedef struct get_arg {
    unsigned port;
    const char *path;
    int rc;
    resp r;
} get_arg;

static void *get_thread(void *p)
{
    get_arg *g = p;
    g->rc = req(NULL, g->port, "GET", g->path, NULL, NULL, 0, &g->r);
    return NULL;
}

/* Serve a (a deadline of 300 s: only the spin's own length may end the call, however slow the
 * sanitizers make it), GET path (one that spins in wasm: /ask, /slow) on a thread of its own
 * and wait until the actor's call has begun: its second wasm/call (the first is ec_init). The
 * wait is bounded by time (30 s), not by a count of polls, so a loaded machine that is slow to
 * start the thread does not fail it; it ends as soon as the call is seen. Returns the request
 * (the caller joins *th, then frees it; a failed wait is a failed CHECK), NULL when nothing
 * could be started. */
static get_arg *start_busy_call(ec_runtime *rt, ec_actor *a, const char *path, pthread_t *th)
{
    get_arg *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->port = serve(a, 0, 300000);
    g->path = path;
    if (!g->port || pthread_create(th, NULL, get_thread, g) != 0) {
        free(g);
        return NULL;
    }
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    t = t0;
    int started = 0;
    while (!(started = count_type(rt, ec_actor_chain(a), "wasm/call") == 2) &&
           t.tv_sec - t0.tv_sec < 30) {
        usleep(2000);
        clock_gettime(CLOCK_MONOTONIC, &t);
    }
    CHECK(started);
    return g;
}

/* Different actors run in parallel (ABI.md 8.1): while one actor's handler spins in wasm,
 * another actor of the same runtime serves requests and the main thread delivers a message.
 * With wasm run under one lock (the runtime's, or a process-wide one), both would wait for
 * the spin to end: the trap would be recorded before they finish. */
static void actors_run_in_parallel(void)
{
    scratch_begin();
    /* The spin runs out of fuel in about 1.5 s; the sanitizers' fuel hook is slower, and
     * the client gives up after 8 s. */
    ec_runtime *rt = new_runtime(getenv("EVCHAIN_SANITIZED") ? 200000000 : 1000000000);
    REQUIRE(rt);
    ec_actor *slow = spawn(rt, "httptest", "slow", NULL), *kv = spawn(rt, "kv", "kv", NULL);
    ec_actor *cnt = spawn(rt, "counter", "counter", NULL);
    REQUIRE(slow && kv && cnt);
    unsigned pk = serve(kv, 0, 0);
    REQUIRE(pk);
    pthread_t th;
    get_arg *g = start_busy_call(rt, slow, "/slow", &th); /* the spin has begun */
    REQUIRE(g);
    int served = 0;
    resp *r = malloc(sizeof *r);
    REQUIRE(r);
    for (int i = 0; i < 20; i++)
        served += req(NULL, pk, "GET", "/kv", NULL, NULL, 0, r) == 0 && r->status == 200;
    free(r);
    ec_runtime_lock(rt);
    CHECK_OK(ec_runtime_send(rt, "counter", "inc", 3));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    ec_runtime_unlock(rt);
    CHECK(served == 20);
    CHECK(count_type(rt, ec_actor_chain(cnt), "wasm/result") == 2);
    CHECK(count_type(rt, ec_actor_chain(slow), "wasm/trap") == 0); /* still spinning */
    pthread_join(th, NULL);
    CHECK(g->rc == 0 && g->r.status == 500); /* out of fuel: a trap */
    CHECK(count_type(rt, ec_actor_chain(slow), "wasm/trap") == 1);
    ec_runtime_lock(rt);
    CHECK(check_nesting(ec_actor_chain(kv)) == 20);
    ec_runtime_unlock(rt);
    free(g);
    ec_runtime_free(rt);
    scratch_end();
}

/* Work for an actor running a call on another thread stays queued, in its order, while the
 * rest is delivered: ec_runtime_run(0) returns with the counter's message delivered and the
 * busy actor's two still queued (its HTTP call not over), and delivers them once it is. */
static void busy_actor_work_waits(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(4000000000u);
    REQUIRE(rt);
    ec_actor *asker = spawn(rt, "httptest", "asker", "nobody");
    ec_actor *cnt = spawn(rt, "counter", "counter", NULL);
    REQUIRE(asker && cnt);
    pthread_t th;
    get_arg *g = start_busy_call(rt, asker, "/ask", &th); /* spins ~1.5 s, asks "nobody" */
    REQUIRE(g);
    ec_runtime_lock(rt);
    CHECK_OK(ec_runtime_send(rt, "asker", "m1", 2));
    CHECK_OK(ec_runtime_send(rt, "counter", "inc", 3));
    CHECK_OK(ec_runtime_send(rt, "asker", "m2", 2));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    int64_t wake = ec_runtime_next_wake_ms(rt);
    ec_runtime_unlock(rt);
    CHECK(count_type(rt, ec_actor_chain(cnt), "wasm/result") == 2);   /* ec_init, inc */
    CHECK(count_type(rt, ec_actor_chain(asker), "wasm/result") == 1); /* ec_init: still busy */
    CHECK(wake == 5);
    pthread_join(th, NULL);
    CHECK(g->rc == 0 && g->r.status == 200 && strcmp(g->r.body, "error 2") == 0);
    ec_runtime_lock(rt);
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    CHECK(ec_runtime_next_wake_ms(rt) == -1);
    CHECK(check_nesting(ec_actor_chain(asker)) == 1);
    ec_runtime_unlock(rt);
    char *j1 = event_json(rt, ec_actor_chain(asker), "wasm/call", 2);
    char *j2 = event_json(rt, ec_actor_chain(asker), "wasm/call", 3);
    CHECK(j1 && strstr(j1, "ec_handle_message") && strstr(j1, "\"input\":\"m1\""));
    CHECK(j2 && strstr(j2, "ec_handle_message") && strstr(j2, "\"input\":\"m2\""));
    if (!j1 || !j2)
        fprintf(stderr, "%s\n%s\n", j1 ? j1 : "-", j2 ? j2 : "-");
    free(j1);
    free(j2);
    free(g);
    ec_runtime_free(rt);
    scratch_end();
}

/* ---- work set aside for a busy actor, seen by the rest of the runtime ---- */

/* A memory backend whose commits and waits for durability the next two tests watch and hold,
 * to order what a runtime's threads do: each actor's appends are committed under the runtime
 * lock, and its wait runs without it (the runtime waits without the lock for a backend with
 * a wait of its own). The hooks read and write hk under hk_mu. */
typedef struct hooked {
    ec_backend base;
    ec_backend *inner;
    char id[72];
} hooked;

static pthread_mutex_t hk_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hk_cv = PTHREAD_COND_INITIALIZER;
static struct {
    ec_runtime *rt;
    const char *interrupt;   /* the next wasm/call of this actor interrupts rt when committed */
    const char *sender;      /* its wasm/trap's wait holds until receiver's wasm/call is in */
    const char *receiver;    /* the wait of that wasm/call holds until sender is recovered */
    const char *receiver_fn; /* only a wasm/call of this export counts as it (NULL: any) */
    uint64_t trap_seq, call_seq;
    int called, recovered;
    const char *flood; /* the wait of this actor's next wasm/call sends to d until refused */
    int accepted;      /* how many of those sends were accepted */
} hk;

static void hk_reset(ec_runtime *rt)
{
    pthread_mutex_lock(&hk_mu);
    memset(&hk, 0, sizeof hk);
    hk.rt = rt;
    hk.trap_seq = hk.call_seq = UINT64_MAX;
    pthread_mutex_unlock(&hk_mu);
}

static int is_type(const ec_event *ev, const char *t)
{
    return ev->type_len == strlen(t) && memcmp(ev->type, t, ev->type_len) == 0;
}

#define HK_INNER(b) (((hooked *)(b))->inner)
static int hk_get_alg(ec_backend *b, ec_hash_alg *o)
{
    return HK_INNER(b)->get_alg(HK_INNER(b), o);
}
static int hk_set_alg(ec_backend *b, ec_hash_alg a)
{
    return HK_INNER(b)->set_alg(HK_INNER(b), a);
}
static int hk_count(ec_backend *b, uint64_t *o)
{
    return HK_INNER(b)->count(HK_INNER(b), o);
}
static int hk_reserve(ec_backend *b, size_t len, uint8_t **o)
{
    return HK_INNER(b)->reserve(HK_INNER(b), len, o);
}
static int hk_get(ec_backend *b, uint64_t seq, const uint8_t **r, size_t *l)
{
    return HK_INNER(b)->get(HK_INNER(b), seq, r, l);
}
static int hk_find(ec_backend *b, const uint8_t *h, size_t hl, uint64_t *o)
{
    return HK_INNER(b)->find_hash(HK_INNER(b), h, hl, o);
}
static int hk_iter_new(ec_backend *b, uint64_t from, ec_backend_iter **o)
{
    return HK_INNER(b)->iter_new(HK_INNER(b), from, o);
}
static void hk_free(ec_backend *b)
{
    HK_INNER(b)->free(HK_INNER(b));
    free(b);
}

static int hk_commit(ec_backend *b, uint64_t seq, size_t off)
{
    hooked *h = (hooked *)b;
    int rc = h->inner->commit(h->inner, seq, off);
    const uint8_t *rec;
    size_t len;
    ec_event ev;
    if (rc || h->inner->get(h->inner, seq, &rec, &len) || ec_record_decode(&ev, rec, len))
        return rc;
    pthread_mutex_lock(&hk_mu);
    if (hk.flood && strcmp(h->id, hk.flood) == 0 && is_type(&ev, "wasm/call")) {
        hk.flood = NULL;
        hk.call_seq = seq;
        hk.accepted = -1; /* flood in the wait of this one */
    }
    if (hk.interrupt && strcmp(h->id, hk.interrupt) == 0 && is_type(&ev, "wasm/call")) {
        hk.interrupt = NULL;
        ec_runtime_interrupt(hk.rt);
    }
    if (hk.sender && strcmp(h->id, hk.sender) == 0) {
        if (is_type(&ev, "wasm/trap") && hk.trap_seq == UINT64_MAX)
            hk.trap_seq = seq;
        if (is_type(&ev, "runtime/recovered"))
            hk.recovered = 1;
    }
    if (hk.receiver && strcmp(h->id, hk.receiver) == 0 && is_type(&ev, "wasm/call") && !hk.called &&
        (!hk.receiver_fn ||
         memmem(ev.data, ev.data_len, hk.receiver_fn, strlen(hk.receiver_fn)) != NULL)) {
        hk.call_seq = seq;
        hk.called = 1;
    }
    pthread_cond_broadcast(&hk_cv);
    pthread_mutex_unlock(&hk_mu);
    return 0;
}

/* Until *flag is set, 60 s at most (then the test fails on what did not happen, not hangs;
 * generous: what it waits for is other threads' work on a machine that may be loaded). */
static void hk_await(const int *flag)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    while (!*flag && pthread_cond_timedwait(&hk_cv, &hk_mu, &until) == 0)
        ;
}

static int hk_wait(ec_backend *b, uint64_t seq)
{
    hooked *h = (hooked *)b;
    pthread_mutex_lock(&hk_mu);
    if (hk.accepted == -1 && seq == hk.call_seq) {
        /* Without hk_mu: the sends commit nothing, but take the runtime lock (free here). */
        pthread_mutex_unlock(&hk_mu);
        int n = 0;
        for (int rc = 0; rc == 0 && n < 10; n += rc == 0) {
            ec_runtime_lock(hk.rt);
            rc = ec_runtime_send(hk.rt, "d", "xxxx", 4);
            ec_runtime_unlock(hk.rt);
        }
        pthread_mutex_lock(&hk_mu);
        hk.accepted = n;
    }
    if (hk.sender && strcmp(h->id, hk.sender) == 0 && seq >= hk.trap_seq)
        hk_await(&hk.called);
    if (hk.receiver && strcmp(h->id, hk.receiver) == 0 && seq == hk.call_seq)
        hk_await(&hk.recovered);
    pthread_mutex_unlock(&hk_mu);
    return 0;
}

static int hk_new(ec_backend **out, const char *id, const char *dir, void *ctx)
{
    (void)dir, (void)ctx;
    hooked *h = calloc(1, sizeof *h);
    if (!h || ec_backend_memory(&h->inner, NULL)) {
        free(h);
        return EC_ENOMEM;
    }
    snprintf(h->id, sizeof h->id, "%s", id);
    h->base = *h->inner; /* iter_next and iter_free take the iterator only */
    h->base.get_alg = hk_get_alg;
    h->base.set_alg = hk_set_alg;
    h->base.count = hk_count;
    h->base.reserve = hk_reserve;
    h->base.commit = hk_commit;
    h->base.get = hk_get;
    h->base.find_hash = hk_find;
    h->base.iter_new = hk_iter_new;
    h->base.wait_durable = hk_wait;
    h->base.sync = NULL;
    h->base.free = hk_free;
    *out = &h->base;
    return 0;
}

static ec_runtime *hooked_runtime(uint64_t fuel, uint64_t max_queued_bytes)
{
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT;
    o.backend_new = hk_new;
    o.fuel = fuel;
    o.max_queued_bytes = max_queued_bytes;
    ec_runtime *rt = new_runtime_with(&o);
    hk_reset(rt);
    return rt;
}

/* The runtime interrupted (SIGTERM: ec_runtime_interrupt) during a delivery, while work for
 * an actor busy on another thread was set aside: what was still queued behind stays queued,
 * after the work set aside, and is recorded as dropped when its receiver stops. The queue
 * used to be replaced by the work set aside: the rest was lost, neither delivered nor
 * recorded (and the runtime's counts of queued work were wrong). */
static void interrupted_run_keeps_queue(void)
{
    scratch_begin();
    ec_runtime *rt = hooked_runtime(4000000000u, 0);
    REQUIRE(rt);
    ec_actor *asker = spawn(rt, "httptest", "asker", "nobody");
    ec_actor *c = spawn(rt, "counter", "c", NULL);
    ec_actor *d = spawn(rt, "counter", "d", NULL);
    REQUIRE(asker && c && d);
    pthread_t th;
    get_arg *g = start_busy_call(rt, asker, "/ask", &th); /* spins ~1.5 s: interrupted before */
    REQUIRE(g);
    ec_runtime_lock(rt);
    CHECK_OK(ec_runtime_send(rt, "asker", "m1", 2)); /* set aside: the asker is busy */
    CHECK_OK(ec_runtime_send(rt, "c", "inc", 3));    /* its wasm/call interrupts the runtime */
    CHECK_OK(ec_runtime_send(rt, "d", "inc", 3));
    CHECK_OK(ec_runtime_send(rt, "d", "inc", 3));
    pthread_mutex_lock(&hk_mu);
    hk.interrupt = "c";
    pthread_mutex_unlock(&hk_mu);
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    CHECK(ec_runtime_interrupted(rt));
    CHECK(count_type(rt, ec_actor_chain(c), "wasm/trap") == 1); /* interrupted */
    CHECK(count_type(rt, ec_actor_chain(d), "wasm/call") == 1); /* ec_init: nothing delivered */
    /* d's two messages are still queued: stopping it records both as dropped. */
    size_t ext = ec_runtime_dropped_external(rt);
    CHECK_OK(ec_runtime_stop(rt, "d", "done"));
    CHECK(ec_runtime_dropped_external(rt) - ext == 2);
    CHECK(count_type(rt, ec_actor_chain(d), "message/dropped") == 2);
    ec_runtime_unlock(rt);
    pthread_join(th, NULL);
    /* The asker's call was interrupted too: m1, queued for it, is recorded as dropped. */
    CHECK(count_type(rt, ec_actor_chain(asker), "message/dropped") == 1);
    char *js = event_json(rt, ec_actor_chain(d), "message/dropped", 1);
    CHECK(js && strstr(js, "\"from\":\"@external\"") && strstr(js, "the receiver stopped"));
    free(js);
    free(g);
    ec_runtime_free(rt);
    scratch_end();
}

/* A message an actor sends to an actor busy on another thread is set aside by the runtime's
 * delivery loop; if the sender's call then traps and is recovered (docs/ABI.md section 7) while
 * that loop delivers something else, the message is still one of the abandoned line's: dropped
 * and recorded, never delivered. The recovery used to look only at the queue, not at the work
 * set aside, and the message was delivered later as if it had been sent. Here the sender (s,
 * serving /sendtrap) sends "held" to itself, busy in this very call, and "inc" to c, then
 * traps; the backend hooks make its recovery happen while c's delivery runs, "held" set
 * aside before it. */
static void recovery_abandons_work_set_aside(void)
{
    scratch_begin();
    ec_runtime *rt = hooked_runtime(0, 0);
    REQUIRE(rt);
    REQUIRE_OK(ec_runtime_set_recover(rt, 1));
    ec_actor *s = spawn(rt, "httptest", "s", "c");
    ec_actor *c = spawn(rt, "counter", "c", NULL);
    REQUIRE(s && c);
    pthread_mutex_lock(&hk_mu);
    hk.sender = "s";
    hk.receiver = "c";
    pthread_mutex_unlock(&hk_mu);
    get_arg *g = calloc(1, sizeof *g);
    REQUIRE(g);
    g->port = serve(s, 0, 0);
    g->path = "/sendtrap";
    REQUIRE(g->port);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, get_thread, g) == 0);
    /* Deliver until c has had its "inc" (the recovery came during it). */
    int delivered = 0;
    for (int i = 0; i < 5000 && !delivered; i++) {
        ec_runtime_lock(rt);
        CHECK_OK(ec_runtime_run(rt, 0, NULL));
        ec_runtime_unlock(rt);
        if (!(delivered = count_type(rt, ec_actor_chain(c), "wasm/result") == 2))
            usleep(2000);
    }
    CHECK(delivered);
    pthread_join(th, NULL);
    CHECK(g->rc == 0 && g->r.status == 500);
    ec_runtime_lock(rt);
    CHECK_OK(ec_runtime_run(rt, 0, NULL)); /* s is free: what was set aside for it */
    CHECK(ec_runtime_next_wake_ms(rt) == -1);
    CHECK(ec_actor_get_state(s) == EC_ACTOR_RUNNING); /* recovered */
    ec_runtime_unlock(rt);
    pthread_mutex_lock(&hk_mu);
    CHECK(hk.recovered && hk.called);
    pthread_mutex_unlock(&hk_mu);
    ec_chain *sc = ec_actor_chain(s);
    CHECK(count_type(rt, sc, "runtime/recovered") == 1);
    char *js = event_json(rt, sc, "message/dropped", 0);
    CHECK(js && strstr(js, "\"from\":\"s\"") && strstr(js, "abandoned"));
    free(js);
    /* wasm/calls: ec_init, the /sendtrap; never an ec_handle_message of "held". */
    CHECK(count_type(rt, sc, "wasm/call") == 2);
    js = event_json(rt, sc, "wasm/call", 2);
    if (js)
        fprintf(stderr, "delivered after all: %s\n", js);
    free(js);
    ec_runtime_lock(rt);
    ec_chain *chains[2] = {sc, ec_actor_chain(c)};
    ec_links_result lr;
    CHECK_OK(ec_actor_check_links(chains, 2, &lr));
    ec_runtime_unlock(rt);
    free(g);
    ec_runtime_free(rt);
    scratch_end();
}

/* The same for a timer: one the sender set in its abandoned line, due and set aside (the
 * sender busy in that very call) while the runtime delivers another actor's timer, is removed
 * by the recovery (docs/ABI.md section 7), never delivered. The re-arm used to look only at
 * the timers pending and the queue. s serves /timertrap (a timer of 0 ms, then a trap, whose
 * wait holds until c's timer call is in); once s's timer is set, c is told to set one of 1 ms:
 * due after s's whatever the time each step takes (c's was set first, for 2 s, and a machine
 * slow enough to take longer to get s's set failed the test). When both are due, s's comes
 * first, is set aside, and c's is delivered: its call's wait holds until s is recovered. */
static void recovery_removes_timer_set_aside(void)
{
    scratch_begin();
    ec_runtime *rt = hooked_runtime(0, 0);
    REQUIRE(rt);
    REQUIRE_OK(ec_runtime_set_recover(rt, 1));
    ec_actor *s = spawn(rt, "httptest", "s", "c");
    ec_actor *c = spawn(rt, "counter", "c", NULL);
    REQUIRE(s && c);
    pthread_mutex_lock(&hk_mu);
    hk.sender = "s";
    hk.receiver = "c";
    hk.receiver_fn = "ec_handle_timer"; /* not the message that sets c's timer */
    pthread_mutex_unlock(&hk_mu);
    get_arg *g = calloc(1, sizeof *g);
    REQUIRE(g);
    g->port = serve(s, 0, 0);
    g->path = "/timertrap";
    REQUIRE(g->port);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, get_thread, g) == 0);
    /* s's timer is queued (under the runtime lock) before its timer/set.result is recorded:
     * seen here, it is due before any timer c sets from now on. 60 s at most, by the clock. */
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    t = t0;
    int set = 0;
    while (!(set = count_type(rt, ec_actor_chain(s), "timer/set.result") == 1) &&
           t.tv_sec - t0.tv_sec < 60) {
        usleep(1000);
        clock_gettime(CLOCK_MONOTONIC, &t);
    }
    CHECK(set);
    ec_runtime_lock(rt);
    CHECK_OK(ec_runtime_send(rt, "c", "tick 1 7", 8));
    ec_runtime_unlock(rt);
    /* Deliver until c has had its timer (ec_init, the tick, its timer); s's recovery came
     * during that call. */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    t = t0;
    int delivered = 0;
    while (!delivered && t.tv_sec - t0.tv_sec < 60) {
        ec_runtime_lock(rt);
        CHECK_OK(ec_runtime_run(rt, 0, NULL));
        ec_runtime_unlock(rt);
        if (!(delivered = count_type(rt, ec_actor_chain(c), "wasm/result") == 3)) {
            usleep(2000);
            clock_gettime(CLOCK_MONOTONIC, &t);
        }
    }
    CHECK(delivered);
    pthread_join(th, NULL);
    CHECK(g->rc == 0 && g->r.status == 500);
    ec_runtime_lock(rt);
    CHECK_OK(ec_runtime_run(rt, 0, NULL)); /* s is free: what was set aside for it */
    CHECK(ec_runtime_next_wake_ms(rt) == -1);
    CHECK(ec_actor_get_state(s) == EC_ACTOR_RUNNING); /* recovered */
    ec_runtime_unlock(rt);
    pthread_mutex_lock(&hk_mu);
    CHECK(hk.recovered && hk.called);
    pthread_mutex_unlock(&hk_mu);
    ec_chain *sc = ec_actor_chain(s);
    CHECK(count_type(rt, sc, "runtime/recovered") == 1);
    /* wasm/calls: ec_init, the /timertrap; never an ec_handle_timer. */
    CHECK(count_type(rt, sc, "wasm/call") == 2);
    char *js = event_json(rt, sc, "wasm/call", 2);
    if (js)
        fprintf(stderr, "delivered after all: %s\n", js);
    free(js);
    free(g);
    ec_runtime_free(rt);
    scratch_end();
}

/* Work set aside for a busy actor is still queued: it counts against the bodies' cap
 * (max_queued_bytes, 10 here) while the runtime delivers the rest. With 6 bytes set aside for
 * the asker, a send of 4 more fits, the next does not. It used to be left out of the count
 * until the delivery loop ended: meanwhile (here during c's delivery, when other threads may
 * send) two were accepted, 14 bytes queued against a cap of 10. */
static void work_set_aside_counts_against_caps(void)
{
    scratch_begin();
    ec_runtime *rt = hooked_runtime(4000000000u, 10);
    REQUIRE(rt);
    ec_actor *asker = spawn(rt, "httptest", "asker", "nobody");
    ec_actor *c = spawn(rt, "counter", "c", NULL);
    ec_actor *d = spawn(rt, "counter", "d", NULL);
    REQUIRE(asker && c && d);
    pthread_t th;
    get_arg *g = start_busy_call(rt, asker, "/ask", &th); /* spins ~1.5 s: interrupted before */
    REQUIRE(g);
    ec_runtime_lock(rt);
    CHECK_OK(ec_runtime_send(rt, "asker", "6bytes", 6)); /* set aside: the asker is busy */
    CHECK_OK(ec_runtime_send(rt, "c", "inc", 3));        /* 9 bytes queued */
    CHECK(ec_runtime_send(rt, "d", "xx", 2) == EC_EDENIED);
    pthread_mutex_lock(&hk_mu);
    hk.flood = "c"; /* the wait of c's wasm/call sends "xxxx" to d until refused */
    pthread_mutex_unlock(&hk_mu);
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    pthread_mutex_lock(&hk_mu);
    int accepted = hk.accepted;
    pthread_mutex_unlock(&hk_mu);
    CHECK(accepted == 1);
    CHECK(count_type(rt, ec_actor_chain(d), "wasm/call") == 1 + accepted); /* delivered */
    CHECK(ec_runtime_send(rt, "d", "xxxxx", 5) == EC_EDENIED);             /* 6 still queued */
    CHECK_OK(ec_runtime_send(rt, "d", "xxxx", 4));
    ec_runtime_interrupt(rt); /* the spin need not run its course (slow under the sanitizers) */
    ec_runtime_unlock(rt);
    pthread_join(th, NULL);
    CHECK(g->rc == 0 && g->r.status == 500);
    /* The 6 bytes set aside for the asker: recorded as dropped at its (interrupted) trap. */
    char *js = event_json(rt, ec_actor_chain(asker), "message/dropped", 0);
    CHECK(js && strstr(js, "\"len\":6") && strstr(js, "the receiver trapped"));
    free(js);
    free(g);
    ec_runtime_free(rt);
    scratch_end();
}

/* The httptest actor "front", its /fetch getting path from 127.0.0.1:port (allowed). */
static ec_actor *spawn_fetcher(ec_runtime *rt, unsigned port, const char *path, unsigned timeout_ms)
{
    char url[128], allow0[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    snprintf(allow0, sizeof allow0, "127.0.0.1:%u", port);
    const char *allow[] = {allow0};
    if (ec_runtime_http_allow(rt, allow, 1, timeout_ms) != 0)
        return NULL;
    return spawn(rt, "httptest", "front", url);
}

/* Under `effects` the chain is synced before each effect leaves the actor (ABI.md section 1):
 * an HTTP request it makes, and a reply it serves, are two. Under `batch` too, though a
 * served request's appends return at commit (their wait deferred to the reply): the
 * request made from inside the handler waits for its event to be durable before it is
 * sent. It used to go out with nothing of the served request even written, and a crash
 * meanwhile left no trace of it. The service notes how many syncs there were when the
 * request reached it. */
static atomic_uint syncs_at_arrival;
/* And how many http/client-request events a reader of the chain's directory (as `evchain
 * log` opens it) found on disk then: a crash at that moment keeps those. */
static char svc_chain_path[600];
static atomic_int on_disk_at_arrival;

static int svc_counting(void *ctx, const ec_http_msg *m, ec_http_reply *reply)
{
    atomic_store(&syncs_at_arrival, atomic_load(&nsyncs));
    ec_chain *c = NULL;
    int n = -1;
    if (svc_chain_path[0] && ec_chain_open_path(&c, svc_chain_path, NULL) == 0) {
        n = 0;
        while (find_event(c, "http/client-request", n, NULL, NULL) == 0)
            n++;
        ec_chain_free(c);
    }
    atomic_store(&on_disk_at_arrival, n);
    return svc_handler(ctx, m, reply);
}

static void effects_synced_before_http_with(int sync_effects)
{
    scratch_begin();
    count_syncs();
    ec_http_server_options so = EC_HTTP_SERVER_OPTIONS_INIT;
    ec_http_server *svc = NULL;
    REQUIRE_OK(ec_http_server_start(&svc, &so, svc_counting, NULL));
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT; /* chains on disk, batch */
    o.sync_effects = sync_effects;
    ec_runtime *rt = new_runtime_with(&o);
    REQUIRE(rt);
    ec_actor *front = spawn_fetcher(rt, ec_http_server_port(svc), "/", 3000);
    REQUIRE(front);
    unsigned pf = serve(front, 0, 0);
    REQUIRE(pf);
    snprintf(svc_chain_path, sizeof svc_chain_path, "%s/actors/front/chain", t_data);
    resp *r = malloc(sizeof *r);
    REQUIRE(r);
    for (int i = 0; i < 3; i++) {
        unsigned before = atomic_load(&nsyncs);
        CHECK(req(NULL, pf, "GET", "/fetch", NULL, NULL, 0, r) == 0 && r->status == 200);
        unsigned at = atomic_load(&syncs_at_arrival), after = atomic_load(&nsyncs);
        CHECK(at > before); /* http/client-request synced before it was sent */
        CHECK(after > at);  /* http/response synced before the reply was sent */
        CHECK(atomic_load(&on_disk_at_arrival) == i + 1); /* on disk while it was answered */
    }
    svc_chain_path[0] = 0;
    free(r);
    ec_runtime_free(rt);
    ec_http_server_stop(svc);
    ec_vfs_set(NULL);
    scratch_end();
}

static void effects_synced_before_http(void)
{
    effects_synced_before_http_with(1);
    effects_synced_before_http_with(0);
}

/* An actor requests, over HTTP, a service another actor of its own process serves: that
 * actor's handler runs while the first waits in http_request (ABI.md 8.2). It used to wait
 * for the first to time out. Both chains replay identically. */
static void requests_own_process(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *back = spawn(rt, "httptest", "back", NULL);
    REQUIRE(back);
    unsigned pb = serve(back, 0, 0);
    REQUIRE(pb);
    ec_actor *front = spawn_fetcher(rt, pb, "/echo", 3000);
    REQUIRE(front);
    unsigned pf = serve(front, 0, 0);
    REQUIRE(pf);
    resp *r = malloc(sizeof *r);
    REQUIRE(r);
    for (int i = 0; i < 3; i++) {
        CHECK(req(NULL, pf, "GET", "/fetch", NULL, NULL, 0, r) == 0 && r->status == 200);
        CHECK(strcmp(r->body, "status 200 GET /echo 0") == 0);
    }
    free(r);
    ec_runtime_lock(rt);
    CHECK(count_type(rt, ec_actor_chain(back), "http/request") == 3);
    CHECK(replays_identically(ec_actor_chain(front), "httptest"));
    CHECK(replays_identically(ec_actor_chain(back), "httptest"));
    ec_runtime_unlock(rt);
    ec_runtime_free(rt);
    scratch_end();
}

/* Two actors, each handling a request on its server's thread, each asking the other
 * (msg_request) once both are running: the first to ask waits for the other, the second
 * would close a cycle of waits and gets EBUSY instead of a deadlock; then the first gets its
 * answer. (The spins, about 1.5 s each, overlap: both clients start at once.) */
static void request_cycle_refused(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(4000000000u);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "httptest", "a", "b"), *b = spawn(rt, "httptest", "b", "a");
    REQUIRE(a && b);
    get_arg *g = calloc(2, sizeof *g);
    REQUIRE(g);
    /* The deadline only has to outlast the spins: under TSan with other tests running they
     * took over 30 s (1.5 s natively), so it is generous. */
    g[0].port = serve(a, 0, 300000);
    g[1].port = serve(b, 0, 300000);
    REQUIRE(g[0].port && g[1].port);
    g[0].path = g[1].path = "/ask";
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_create(&th[i], NULL, get_thread, &g[i]) == 0);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    int busy = 0, pong = 0;
    for (int i = 0; i < 2; i++) {
        CHECK(g[i].rc == 0 && g[i].r.status == 200);
        busy += strcmp(g[i].r.body, "error 5") == 0;
        pong += strcmp(g[i].r.body, "reply pong") == 0;
    }
    CHECK(busy == 1 && pong == 1);
    if (busy != 1 || pong != 1)
        fprintf(stderr, "answers: %d '%s', %d '%s'\n", g[0].rc, g[0].r.body, g[1].rc, g[1].r.body);
    ec_runtime_lock(rt);
    CHECK(replays_identically(ec_actor_chain(a), "httptest"));
    CHECK(replays_identically(ec_actor_chain(b), "httptest"));
    ec_runtime_unlock(rt);
    free(g);
    ec_runtime_free(rt);
    scratch_end();
}

/* Everything that may now run at once, on disk under batch: three servers' workers (two
 * clients on one of them), an actor requesting another over HTTP inside its handler, and
 * the main thread delivering messages. Then each chain is whole (each request one unbroken
 * stretch), verifies, and replays identically from disk. make test also runs this under
 * ThreadSanitizer; make stress runs it 20 times longer. */
typedef struct load_arg {
    unsigned port;
    const char *method, *path, *body;
    int n, ok;
} load_arg;

static void *load_thread(void *p)
{
    load_arg *l = p;
    CURL *easy = curl_easy_init();
    resp *r = malloc(sizeof *r);
    for (int i = 0; easy && r && i < l->n; i++)
        l->ok += req(easy, l->port, l->method, l->path, NULL, l->body,
                     l->body ? strlen(l->body) : 0, r) == 0 &&
                 r->status / 100 == 2 &&
                 (strcmp(l->path, "/fetch") || !strncmp(r->body, "status 200", 10));
    free(r);
    curl_easy_cleanup(easy);
    return NULL;
}

static void parallel_stress(void)
{
    scratch_begin();
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT; /* chains on disk, batch */
    ec_runtime *rt = new_runtime_with(&o);
    REQUIRE(rt);
    ec_actor *kv1 = spawn(rt, "kv", "kv1", NULL), *kv2 = spawn(rt, "kv", "kv2", NULL);
    ec_actor *cnt = spawn(rt, "counter", "counter", NULL);
    REQUIRE(kv1 && kv2 && cnt);
    unsigned p1 = serve(kv1, 0, 0), p2 = serve(kv2, 0, 0);
    REQUIRE(p1 && p2);
    ec_actor *front = spawn_fetcher(rt, p1, "/kv/k", 5000);
    REQUIRE(front);
    unsigned pf = serve(front, 0, 0);
    REQUIRE(pf);
    resp *r = malloc(sizeof *r);
    REQUIRE(r);
    CHECK(req(NULL, p1, "PUT", "/kv/k", NULL, "\"v\"", 3, r) == 0 && r->status == 201);
    CHECK(req(NULL, p2, "PUT", "/kv/k", NULL, "\"v\"", 3, r) == 0 && r->status == 201);
    free(r);
    enum { T = 4 };
    const int N = getenv("EVCHAIN_STRESS") ? 600 : 30; /* make stress: longer */
    load_arg la[T] = {{p1, "GET", "/kv/k", NULL, N, 0},
                      {p1, "PUT", "/kv/k", "\"w\"", N, 0},
                      {p2, "GET", "/kv/k", NULL, N, 0},
                      {pf, "GET", "/fetch", NULL, N, 0}};
    pthread_t th[T];
    for (int i = 0; i < T; i++)
        REQUIRE(pthread_create(&th[i], NULL, load_thread, &la[i]) == 0);
    for (int i = 0; i < N; i++) {
        ec_runtime_lock(rt);
        CHECK_OK(ec_runtime_send(rt, "counter", "inc", 3));
        CHECK_OK(ec_runtime_run(rt, 0, NULL));
        ec_runtime_unlock(rt);
        usleep(500);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        CHECK(la[i].ok == N);
    }
    ec_runtime_lock(rt);
    CHECK(check_nesting(ec_actor_chain(kv1)) == 1 + 3 * N); /* the front's N included */
    CHECK(check_nesting(ec_actor_chain(kv2)) == 1 + N);
    CHECK(check_nesting(ec_actor_chain(front)) == N);
    CHECK(count_type(rt, ec_actor_chain(cnt), "wasm/result") == 1 + N);
    ec_runtime_unlock(rt);
    ec_runtime_free(rt);
    static const char *const ids[] = {"kv1", "kv2", "front", "counter"};
    static const char *const mods[] = {"kv", "kv", "httptest", "counter"};
    for (int i = 0; i < 4; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/actors/%s/chain", t_data, ids[i]);
        ec_chain *c = NULL;
        REQUIRE_OK(ec_chain_open_path(&c, path, NULL));
        CHECK(check_chain(c) > 0);
        CHECK(replays_identically(c, mods[i]));
        ec_chain_free(c);
    }
    scratch_end();
}

static void refuses_misuse(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    ec_actor *c = spawn(rt, "counter", "counter", NULL);
    ec_actor *k = spawn(rt, "kv", "kv", NULL);
    REQUIRE(c && k);
    CHECK(ec_actor_serve_http(c, NULL, NULL) == EC_EINVAL); /* no ec_handle_http */
    CHECK(ec_error_last() && strstr(ec_error_last()->message, "ec_handle_http"));
    CHECK(serve(k, 0, 0) != 0);
    CHECK(ec_actor_serve_http(k, NULL, NULL) == EC_EEXISTS);
    ec_actor_http_options o = EC_ACTOR_HTTP_OPTIONS_INIT;
    o.version = 99;
    CHECK(ec_actor_serve_http(k, &o, NULL) == EC_EUNSUPPORTED);
    const char *empty[] = {""};
    CHECK(ec_runtime_http_allow(rt, empty, 1, 0) == EC_EINVAL);
    /* An entry that could never match is refused, naming it; the list in force is kept. */
    const char *malformed[] = {"127.0.0.1", "127.0.0.1:abc"};
    CHECK(ec_runtime_http_allow(rt, malformed, 2, 0) == EC_EINVAL);
    CHECK(ec_error_last() && strstr(ec_error_last()->message, "host 1: allow-list entry "
                                                              "\"127.0.0.1:abc\""));
    ec_runtime_free(rt);
    scratch_end();
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    /* Several tests' actors spin for seconds natively (the deadlines they test are the
     * server's); under the sanitizers on a loaded machine the spins outlasted the client's
     * default 8 s. No test here expects the client to give up. */
    http_timeout_ms = 300000;
    RUN(kv_over_loopback);
    RUN(kv_on_disk_batch);
    RUN(kv_on_disk_always);
    RUN(failures_get_clear_answers);
    RUN(slow_actor_times_out);
    RUN(requests_from_actors);
    RUN(effects_synced_before_http);
    RUN(refusals_durable_before_sent);
    RUN(late_504_durable_before_sent);
    RUN(held_504_durable_before_sent);
    RUN(stop_503_durable_before_sent);
    RUN(late_504_before_handler_began);
    RUN(concurrent_clients);
    RUN(actors_run_in_parallel);
    RUN(requests_own_process);
    RUN(request_cycle_refused);
    RUN(parallel_stress);
    RUN(busy_actor_work_waits);
    RUN(interrupted_run_keeps_queue);
    RUN(recovery_abandons_work_set_aside);
    RUN(recovery_removes_timer_set_aside);
    RUN(work_set_aside_counts_against_caps);
    RUN(refuses_misuse);
    curl_global_cleanup();
    TEST_END();
}
