/* tests/test_actor_msgs.c: what becomes of messages and spawns that do not go through
 * (docs/ABI.md sections 2, 6, 7): a message accepted and then not delivered (its receiver
 * stopped or trapped first, or its send was abandoned by a recovery) is recorded as
 * message/dropped in the receiver's chain, which replays identically and whose link
 * `verify --links` resolves; an accepted message that the receiver's chain does not account
 * for (cut off its end) is reported as unaccounted; a spawn whose ec_init could not be called
 * leaves no child, nor anything in the data directory; the runtime-wide caps on queued message
 * bytes and on the actors' memory refuse, recorded; messages still queued when a process was
 * killed are delivered (or, sent in a call that did not complete, dropped) by the receiver's
 * recovery, once. */
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <evchain/replay.h>
#include "test_actor_util.h"

/* The number of events of `type` in c. */
static int count_type(ec_chain *c, const char *type)
{
    int n = 0;
    while (find_event(c, type, n, NULL, NULL) == 0)
        n++;
    return n;
}

static int ec_mkdir_p_test(const char *path)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    return mkdir(tmp, 0755) == 0 ? 0 : -1;
}

static ec_runtime *msgs_runtime(ec_chain_store store, uint64_t queued_bytes, uint64_t memory)
{
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT;
    o.chain_store = store;
    o.fuel = 20000000;
    o.max_queued_bytes = queued_bytes;
    o.max_memory_bytes = memory;
    return new_runtime_with(&o);
}

/* External messages to an actor that traps on the first: the others are not lost without a
 * trace: recorded after the trap, counted, and the chain replays to the same bytes. */
static void dropped_after_trap_recorded(void)
{
    scratch_begin();
    ec_runtime *rt = msgs_runtime(EC_CHAIN_STORE_MEMORY, 0, 0);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "crasher", "c", NULL);
    REQUIRE(a);
    CHECK_OK(ec_runtime_send(rt, "c", "crash", 5));
    CHECK_OK(ec_runtime_send(rt, "c", "abort", 5));
    CHECK_OK(ec_runtime_send(rt, "c", "crash", 5));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    CHECK(ec_actor_get_state(a) == EC_ACTOR_TRAPPED);
    CHECK(ec_runtime_dropped_external(rt) == 2);
    ec_chain *c = ec_actor_chain(a);
    uint64_t trap_seq = 0, drop_seq = 0;
    char *js = NULL;
    CHECK(find_event(c, "wasm/trap", 0, NULL, &trap_seq) == 0);
    CHECK(count_type(c, "message/dropped") == 2);
    CHECK(find_event(c, "message/dropped", 0, &js, &drop_seq) == 0);
    CHECK(drop_seq == trap_seq + 1);
    CHECK(js && strstr(js, "\"from\":\"@external\"") && strstr(js, "\"len\":5") &&
          strstr(js, "the receiver trapped"));
    free(js);
    CHECK(check_chain(c) == (long)ec_chain_count(c));
    ec_replay_report rep;
    memset(&rep, 0, sizeof rep);
    CHECK_OK(replay_identical(c, &rep));
    CHECK(rep.trapped && rep.trap_seq == trap_seq); /* still reported as ending trapped */
    ec_runtime_free(rt);
    scratch_end();
}

/* A supervisor's message to its worker, which it then stops before the message is delivered:
 * the worker's chain records the drop before its actor/stop, linking the supervisor's
 * message/send, and the links between the chains check. */
static void dropped_before_stop_linked(void)
{
    scratch_begin();
    ec_runtime *rt = msgs_runtime(EC_CHAIN_STORE_MEMORY, 0, 0);
    REQUIRE(rt);
    REQUIRE(spawn(rt, "supervisor", "sup", NULL));
    CHECK_OK(ec_runtime_send(rt, "sup", "work 5", 6));
    CHECK_OK(ec_runtime_send(rt, "sup", "stop worker", 11));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    CHECK(ec_runtime_dropped_external(rt) == 0);
    ec_actor *w = ec_runtime_find(rt, "sup.worker");
    REQUIRE(w);
    CHECK(ec_actor_get_state(w) == EC_ACTOR_STOPPED);
    ec_chain *wc = ec_actor_chain(w), *sc = ec_actor_chain(ec_runtime_find(rt, "sup"));
    char *js = NULL;
    CHECK(find_event(sc, "message/send.result", 0, &js, NULL) == 0);
    CHECK(js && strstr(js, "\"ret\":0")); /* the supervisor was told it went */
    free(js);
    js = NULL;
    uint64_t drop_seq = 0, stop_seq = 0;
    CHECK(find_event(wc, "message/dropped", 0, &js, &drop_seq) == 0);
    CHECK(find_event(wc, "actor/stop", 0, NULL, &stop_seq) == 0);
    CHECK(drop_seq + 1 == stop_seq);
    CHECK(js && strstr(js, "\"from\":\"sup\"") && strstr(js, "the receiver stopped"));
    free(js);
    /* Its link names the supervisor's message/send: checked like a delivery's. */
    size_t n = ec_runtime_actor_count(rt);
    ec_chain *chains[8];
    REQUIRE(n <= 8);
    for (size_t k = 0; k < n; k++)
        chains[k] = ec_actor_chain(ec_runtime_actor_at(rt, k));
    ec_links_result lr;
    CHECK_OK(ec_actor_check_links(chains, n, &lr));
    CHECK(lr.checked >= 1 && lr.unresolved == 0);
    ec_replay_report rep;
    memset(&rep, 0, sizeof rep);
    CHECK_OK(replay_identical(wc, &rep));
    ec_runtime_free(rt);
    scratch_end();
}

/* A copy of c's events 0 .. upto-1 in a chain in memory: c with its tail cut off. */
static ec_chain *copy_until(ec_chain *c, uint64_t upto)
{
    ec_backend *be;
    ec_chain *out;
    if (ec_backend_memory(&be, NULL) || ec_chain_open(&out, be, NULL))
        return NULL;
    ec_iter *it;
    ec_event ev;
    if (ec_iter_new(&it, c, 0)) {
        ec_chain_free(out);
        return NULL;
    }
    while (ec_iter_next(it, &ev) == 0 && ev.seq < upto) {
        ec_event_input in = {0};
        in.type = ev.type;
        in.type_len = ev.type_len;
        in.data = ev.data;
        in.data_len = ev.data_len;
        in.timestamp = ev.timestamp;
        if (ec_chain_append(out, &in, NULL, NULL))
            break;
    }
    ec_iter_free(it);
    return out;
}

struct seen_unaccounted {
    int n;
    ec_links_unaccounted last;
    char sender[65], receiver[65];
};

static void on_unaccounted(void *ctx, const ec_links_unaccounted *u)
{
    struct seen_unaccounted *s = ctx;
    s->n++;
    s->last = *u;
    snprintf(s->sender, sizeof s->sender, "%s", u->sender_id);
    snprintf(s->receiver, sizeof s->receiver, "%s", u->receiver_id);
}

/* Every message a's chain says was accepted must be accounted for in b's chain. A delivery
 * links back to its send, not the other way: with b's chain cut after the first of two
 * deliveries every link still resolves, and only the accounting finds the second message
 * missing; a cut in a's chain instead leaves b's delivery naming a send that is not there: a
 * broken link, not an unaccounted message. */
static void unaccounted_send_reported(void)
{
    scratch_begin();
    ec_runtime *rt = msgs_runtime(EC_CHAIN_STORE_MEMORY, 0, 0);
    REQUIRE(rt);
    ec_actor *a = spawn(rt, "relay", "a", NULL), *b = spawn(rt, "relay", "b", NULL);
    REQUIRE(a && b);
    CHECK_OK(ec_runtime_send(rt, "a", "send2 b hi", 10));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    ec_chain *ac = ec_actor_chain(a), *bc = ec_actor_chain(b);
    uint64_t send2 = 0, call2 = 0;
    REQUIRE(find_event(ac, "message/send", 1, NULL, &send2) == 0);
    REQUIRE(find_event(bc, "wasm/call", 2, NULL, &call2) == 0); /* ec_init, hi, hi */
    struct seen_unaccounted seen = {0};
    ec_links_options lo = EC_LINKS_OPTIONS_INIT;
    lo.unaccounted = on_unaccounted;
    lo.ctx = &seen;
    ec_links_result lr;
    ec_chain *group[2] = {ac, bc};
    CHECK_OK(ec_actor_check_links_opts(group, 2, &lo, &lr));
    CHECK(seen.n == 0 && lr.checked == 2 && lr.unresolved == 0);

    ec_chain *bcut = copy_until(bc, call2);
    REQUIRE(bcut);
    group[1] = bcut;
    CHECK_OK(ec_actor_check_links_opts(group, 2, &lo, &lr));
    CHECK(lr.checked == 1);
    CHECK(seen.n == 1 && seen.last.sender == 0 && seen.last.seq == send2 &&
          seen.last.receiver == 1 && strcmp(seen.sender, "a") == 0 &&
          strcmp(seen.receiver, "b") == 0);
    /* Without options (or without the callback) the links alone: all resolve. */
    CHECK_OK(ec_actor_check_links(group, 2, &lr));
    ec_chain_free(bcut);

    /* The receiver's chain not given: its messages are not checked, only counted. */
    seen.n = 0;
    CHECK_OK(ec_actor_check_links_opts(&ac, 1, &lo, &lr));
    CHECK(seen.n == 0 && lr.unresolved == 2);

    /* The sender's chain cut before its second send: b's delivery of it is a broken link,
     * reported as such (EC_EVERIFY), and nothing is reported unaccounted. */
    ec_chain *acut = copy_until(ac, send2);
    REQUIRE(acut);
    group[0] = acut;
    group[1] = bc;
    CHECK(ec_actor_check_links_opts(group, 2, &lo, &lr) == EC_EVERIFY);
    CHECK(seen.n == 0 && lr.actor == 1 && strstr(lr.reason, "not in a's chain"));
    ec_chain_free(acut);

    lo.version = EC_LINKS_OPTIONS_VERSION + 1;
    CHECK(ec_actor_check_links_opts(group, 2, &lo, &lr) == EC_EINVAL);
    ec_runtime_free(rt);
    scratch_end();
}

/* A spawn whose child's ec_init cannot be called (each ec_init spawns another child of the
 * same module, until calls nest deeper than the runtime allows): the spawn returns EIO, and
 * the child it refused is not left behind, listed and "running", nor in the data directory:
 * the chain made for it before ec_init was refused is removed again, so that a later runtime
 * on the same data directory can start an actor of that name. */
static void failed_spawn_leaves_no_child(void)
{
    scratch_begin();
    ec_runtime *rt = msgs_runtime(EC_CHAIN_STORE_DISK, 0, 0);
    REQUIRE(rt);
    ec_actor *top = spawn(rt, "relay", "r", "nest");
    REQUIRE(top);
    /* The deepest child that ran, and the one its spawn refused. */
    char id[128] = "r", last[128] = "";
    while (ec_runtime_find(rt, id)) {
        snprintf(last, sizeof last, "%s", id);
        strncat(id, ".kid", sizeof id - strlen(id) - 1);
    }
    CHECK(ec_runtime_actor_count(rt) >= 2);
    for (size_t k = 0; k < ec_runtime_actor_count(rt); k++)
        CHECK(ec_actor_get_state(ec_runtime_actor_at(rt, k)) == EC_ACTOR_RUNNING);
    ec_actor *deep = ec_runtime_find(rt, last);
    REQUIRE(deep);
    char *js = NULL;
    CHECK(find_event(ec_actor_chain(deep), "supervisor/spawn.result", 0, &js, NULL) == 0);
    CHECK(js && strstr(js, "\"ret\":-6") && strstr(js, "nested deeper"));
    free(js);
    /* Nothing of it in the data directory. */
    char path[700];
    struct stat st;
    snprintf(path, sizeof path, "%s/actors/%s", t_data, id);
    CHECK(stat(path, &st) != 0);
    ec_runtime_free(rt);
    /* Its name can be started there again (it was EEXISTS, "already holds a chain"). */
    rt = msgs_runtime(EC_CHAIN_STORE_DISK, 0, 0);
    CHECK(rt != NULL); /* not REQUIRE: checked whatever the CHECKs above found */
    ec_actor *again = rt ? spawn(rt, "relay", id, NULL) : NULL;
    CHECK(again != NULL);
    if (again) {
        CHECK(ec_chain_count(ec_actor_chain(again)) == 3); /* actor/start, its ec_init */
        ec_replay_report rep;
        memset(&rep, 0, sizeof rep);
        CHECK_OK(replay_identical(ec_actor_chain(again), &rep));
    }
    ec_runtime_free(rt);
    scratch_end();
}

/* A spawn refused before its chain is complete (here: the checkpoint origin would be too long
 * for the key's name, found after its sandbox was made) leaves nothing in the data directory
 * either: not the actor's directory, nor <data>/actors when it made that. */
static void refused_spawn_leaves_no_directory(void)
{
    scratch_begin();
    ec_signer *signer = NULL;
    char name[256]; /* "<name>/<id>" over EC_NOTE_NAME_MAX - 1 bytes */
    memset(name, 'k', 200);
    name[200] = 0;
    REQUIRE_OK(ec_signer_generate(&signer, name));
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT;
    o.checkpoint_signer = signer;
    ec_runtime *rt = new_runtime_with(&o);
    REQUIRE(rt);
    char id[70];
    memset(id, 'a', 64);
    id[64] = 0;
    ec_actor_options ao = EC_ACTOR_OPTIONS_INIT;
    ao.id = id;
    ec_actor *a = NULL;
    CHECK(ec_runtime_spawn(rt, actor_path("relay"), &ao, &a) == EC_EINVAL);
    CHECK(a == NULL);
    char path[700];
    struct stat st;
    snprintf(path, sizeof path, "%s/actors", t_data);
    CHECK(stat(path, &st) != 0);
    ec_runtime_free(rt);
    ec_signer_free(signer);
    scratch_end();
}

/* A send made in a call that then traps and is recovered: the send is in the abandoned line,
 * so the message, still queued, is dropped (recorded) instead of delivered. */
static void abandoned_send_dropped(void)
{
    scratch_begin();
    ec_runtime *rt = msgs_runtime(EC_CHAIN_STORE_MEMORY, 0, 0);
    REQUIRE(rt);
    REQUIRE_OK(ec_runtime_set_recover(rt, 2));
    ec_actor *a = spawn(rt, "relay", "a", NULL);
    ec_actor *b = spawn(rt, "relay", "b", NULL);
    REQUIRE(a && b);
    CHECK_OK(ec_runtime_send(rt, "a", "sendtrap b", 10));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    CHECK(ec_actor_get_state(a) == EC_ACTOR_RUNNING); /* recovered */
    CHECK(find_event(ec_actor_chain(a), "runtime/recovered", 0, NULL, NULL) == 0);
    ec_chain *bc = ec_actor_chain(b);
    CHECK(count_type(bc, "wasm/call") == 1); /* its ec_init only: "hello" never handled */
    char *js = NULL;
    CHECK(find_event(bc, "message/dropped", 0, &js, NULL) == 0);
    CHECK(js && strstr(js, "\"from\":\"a\"") && strstr(js, "abandoned"));
    free(js);
    ec_chain *chains[2] = {ec_actor_chain(a), bc};
    ec_links_result lr;
    CHECK_OK(ec_actor_check_links(chains, 2, &lr));
    ec_replay_report rep;
    memset(&rep, 0, sizeof rep);
    CHECK_OK(replay_identical(bc, &rep));
    /* A message sent by the recovered actor in a call that completes is delivered. */
    CHECK_OK(ec_runtime_send(rt, "a", "send b hi", 9));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    CHECK(count_type(bc, "wasm/call") == 2);
    ec_runtime_free(rt);
    scratch_end();
}

/* The chain of actor id in the test's data directory, opened for reading. */
static ec_chain *read_chain(const char *id)
{
    char path[600];
    snprintf(path, sizeof path, "%s/actors/%s/chain", t_data, id);
    ec_open_options oo = EC_OPEN_OPTIONS_INIT;
    ec_chain *c = NULL;
    return ec_chain_open_path(&c, path, &oo) == 0 ? c : NULL;
}

/* Unaccounted messages among the chains of actors a, b, c and d (-1: the links do not check). */
static int unaccounted_abcd(void)
{
    ec_chain *g[4] = {read_chain("a"), read_chain("b"), read_chain("c"), read_chain("d")};
    struct seen_unaccounted seen = {0};
    ec_links_options lo = EC_LINKS_OPTIONS_INIT;
    lo.unaccounted = on_unaccounted;
    lo.ctx = &seen;
    ec_links_result lr;
    int rc = g[0] && g[1] && g[2] && g[3] ? ec_actor_check_links_opts(g, 4, &lo, &lr) : -1;
    for (int k = 0; k < 4; k++)
        ec_chain_free(g[k]);
    return rc ? -1 : seen.n;
}

/* Every file under dir (recursively, in the order of their sorted paths) as one image: each
 * path, its size and its bytes. Two images equal: the directory's files are byte-identical
 * (no file added, removed, cut or changed). NULL on failure. */
static char *g_img;
static size_t g_img_len;
static int img_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F)
        return 0;
    size_t len = 0;
    char *b = test_read_file(p, &len);
    size_t pl = strlen(p) + 1;
    char *n = b ? realloc(g_img, g_img_len + pl + sizeof len + len) : NULL;
    if (!n || (uint64_t)sb->st_size != len) {
        free(b);
        return -1;
    }
    g_img = n;
    memcpy(g_img + g_img_len, p, pl);
    memcpy(g_img + g_img_len + pl, &len, sizeof len);
    memcpy(g_img + g_img_len + pl + sizeof len, b, len);
    g_img_len += pl + sizeof len + len;
    free(b);
    return 0;
}

static char *dir_image(const char *dir, size_t *len)
{
    g_img = NULL;
    g_img_len = 0;
    /* nftw's order is readdir's, the same for an unchanged directory; a file added or
     * removed changes the image anyway. */
    if (nftw(dir, img_cb, 16, FTW_PHYS) != 0) {
        free(g_img);
        return NULL;
    }
    *len = g_img_len;
    return g_img ? g_img : calloc(1, 1);
}

/* Whether dir's files are still the image img (len bytes). */
static int same_image(const char *dir, const char *img, size_t len)
{
    size_t n = 0;
    char *now = dir_image(dir, &n);
    int same = now && img && n == len && memcmp(now, img, n) == 0;
    free(now);
    return same;
}

/* The last segment file of a chain directory (the highest seg-*.log), into out. */
static int last_segment(const char *chain_dir, char *out, size_t n)
{
    DIR *d = opendir(chain_dir);
    if (!d)
        return -1;
    char best[300] = "";
    struct dirent *de;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, "seg-", 4) == 0 && strlen(de->d_name) == 24 &&
            strcmp(de->d_name + 20, ".log") == 0 && strcmp(de->d_name, best) > 0)
            snprintf(best, sizeof best, "%s", de->d_name);
    closedir(d);
    if (!best[0])
        return -1;
    snprintf(out, n, "%s/%s", chain_dir, best);
    return 0;
}

/* ec_runtime_recover (resume) of id in the test's data directory, its queue run, then freed:
 * what it queued again from the chains into *deliver and *drop. */
static int resume_limited(const char *id, size_t max_queue, uint64_t max_bytes, size_t *deliver,
                          size_t *drop)
{
    char path[600];
    snprintf(path, sizeof path, "%s/actors/%s/chain", t_data, id);
    ec_recover_options o = EC_RECOVER_OPTIONS_INIT;
    o.cache_dir = cache();
    o.quiet = 1;
    o.migrated = 1;
    o.max_queue = max_queue;
    o.max_queued_bytes = max_bytes;
    ec_runtime *rt = NULL;
    ec_actor *a = NULL;
    ec_replay_report rep;
    int rc = ec_runtime_recover(&rt, &a, path, &o, &rep, NULL);
    ec_replay_report_free(&rep);
    if (rc)
        return rc;
    ec_runtime_recovered_messages(rt, deliver, drop);
    rc = ec_runtime_run(rt, 0, NULL);
    ec_runtime_free(rt);
    return rc;
}

static int resume_run(const char *id, size_t *deliver, size_t *drop)
{
    return resume_limited(id, 0, 0, deliver, drop);
}

/* A process killed with messages queued (docs/ABI.md section 7): relay a sends "hi" to b, then
 * "yo" to itself; relay d sends "hello" to b in a call that then traps; relay c, in a call
 * that never ends (the process is killed in it), "hello" to b. All four were accepted and none
 * delivered. c is resumed first (its marker abandons the cut call). Resuming b delivers "hi"
 * (its call completed) and records both "hello"s as dropped (d's call trapped: it did not
 * complete; c's call is in the line c's resume abandoned), in the order they were sent;
 * resuming a delivers "yo" to itself. Then every message is accounted for, a
 * second resume queues nothing, and both chains replay identically. A chain of the data
 * directory that cannot be read refuses the resume, which writes nothing. */
static void killed_queue_requeued(void)
{
    scratch_begin();
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT;
        o.durability = EC_DURABLE_BATCH; /* each event written (synced) before it returns */
        o.fuel = 100000000000000ull;     /* "sendspin" spins until killed */
        ec_runtime *rt = new_runtime_with(&o);
        if (!rt || !spawn(rt, "relay", "a", NULL) || !spawn(rt, "relay", "b", NULL) ||
            !spawn(rt, "relay", "c", NULL) || !spawn(rt, "relay", "d", NULL) ||
            ec_runtime_send(rt, "a", "send b hi", 9) || ec_runtime_send(rt, "a", "send a yo", 9) ||
            ec_runtime_send(rt, "d", "sendtrap b", 10) ||
            ec_runtime_send(rt, "c", "sendspin b", 10))
            _exit(2);
        ec_runtime_run(rt, 0, NULL);
        _exit(3); /* not reached: killed in the spin */
    }
    /* Killed once c's send is accepted (its call then spins; a's and d's calls came first). */
    int up = 0;
    for (int k = 0; k < 6000 && !up; k++) { /* 60 s: a loaded machine, sanitizers */
        ec_chain *c = read_chain("c");
        if (c && find_event(c, "message/send.result", 0, NULL, NULL) == 0)
            up = 1;
        ec_chain_free(c);
        if (!up) {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        int st;
        if (!up && waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "the run ended on its own (status %d)\n", st);
            pid = -1;
            break;
        }
    }
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    REQUIRE(up);
    ec_error_clear();
    CHECK(unaccounted_abcd() == 4);

    /* b's chain ends in a torn record (a kill during an append): a refused recovery must
     * leave it too, not cut it (the writer's open would), so its files are compared byte for
     * byte after each refusal below. */
    char bdir[600], bseg[700];
    snprintf(bdir, sizeof bdir, "%s/actors/b/chain", t_data);
    REQUIRE(last_segment(bdir, bseg, sizeof bseg) == 0);
    FILE *tf = fopen(bseg, "ab");
    REQUIRE(tf);
    REQUIRE(fwrite("abc", 1, 3, tf) == 3);
    REQUIRE(fclose(tf) == 0);
    size_t img_len = 0;
    char *img = dir_image(bdir, &img_len);
    REQUIRE(img);

    /* A chain of the data directory that cannot be read: refused, nothing written. */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/actors/zz/chain", t_data);
    REQUIRE_OK(ec_mkdir_p_test(bad));
    ec_chain *bc = read_chain("b");
    REQUIRE(bc);
    uint64_t b0 = ec_chain_count(bc);
    ec_chain_free(bc);
    size_t deliver = 9, drop = 9;
    CHECK(resume_run("b", &deliver, &drop) == EC_EVERIFY);
    CHECK(ec_error_last() && strstr(ec_error_last()->message, "actors/zz/chain"));
    CHECK(same_image(bdir, img, img_len));
    bc = read_chain("b");
    REQUIRE(bc);
    CHECK(ec_chain_count(bc) == b0);
    ec_chain_free(bc);
    REQUIRE(rmdir(bad) == 0);
    snprintf(bad, sizeof bad, "%s/actors/zz", t_data);
    REQUIRE(rmdir(bad) == 0);

    CHECK_OK(resume_run("c", &deliver, &drop));
    CHECK(deliver == 0 && drop == 0);
    CHECK(unaccounted_abcd() == 4);
    /* Past the queue's limits (three messages for b, 12 bytes of bodies): refused as a
     * whole, nothing written. */
    CHECK(resume_limited("b", 2, 0, &deliver, &drop) == EC_EDENIED);
    CHECK(ec_error_last() && strstr(ec_error_last()->message, "max_queue 2"));
    CHECK(same_image(bdir, img, img_len)); /* the torn record too */
    CHECK(resume_limited("b", 0, 11, &deliver, &drop) == EC_EDENIED);
    CHECK(ec_error_last() && strstr(ec_error_last()->message, "max_queued_bytes 11"));
    CHECK(same_image(bdir, img, img_len));
    free(img);
    bc = read_chain("b");
    REQUIRE(bc);
    CHECK(ec_chain_count(bc) == b0);
    ec_chain_free(bc);
    /* Going live, the recovery's writer cuts the torn record (the chain read below, every
     * event checked, holds what it appended after it). */
    CHECK_OK(resume_run("b", &deliver, &drop));
    CHECK(deliver == 1 && drop == 2);
    bc = read_chain("b");
    REQUIRE(bc);
    CHECK(check_chain(bc) == (long)ec_chain_count(bc));
    char *js = NULL;
    uint64_t call_seq = 0, drop_seq = 0, drop2_seq = 0;
    CHECK(find_event(bc, "wasm/call", 1, &js, &call_seq) == 0); /* after its ec_init */
    CHECK(js && strstr(js, "\"from\":\"a\"") && strstr(js, "\"input\":\"hi\""));
    free(js);
    js = NULL;
    CHECK(find_event(bc, "message/dropped", 0, &js, &drop_seq) == 0);
    CHECK(js && strstr(js, "\"from\":\"d\"") && strstr(js, "\"len\":5") &&
          strstr(js, "did not complete"));
    free(js);
    js = NULL;
    CHECK(find_event(bc, "message/dropped", 1, &js, &drop2_seq) == 0);
    CHECK(js && strstr(js, "\"from\":\"c\"") && strstr(js, "its sender's recovery abandoned"));
    free(js);
    CHECK(call_seq < drop_seq && drop_seq < drop2_seq); /* in the order they were sent */
    CHECK(count_type(bc, "wasm/call") == 2);
    ec_replay_report rep;
    memset(&rep, 0, sizeof rep);
    CHECK_OK(replay_identical(bc, &rep));
    ec_replay_report_free(&rep);
    ec_chain_free(bc);
    CHECK(unaccounted_abcd() == 1); /* a's "yo" to itself */

    /* Once: the second resume finds all three accounted for in b's chain. */
    CHECK_OK(resume_run("b", &deliver, &drop));
    CHECK(deliver == 0 && drop == 0);
    bc = read_chain("b");
    REQUIRE(bc);
    CHECK(count_type(bc, "wasm/call") == 2 && count_type(bc, "message/dropped") == 2);
    ec_chain_free(bc);

    /* a's own message to itself, sent in a call that completed. */
    CHECK_OK(resume_run("a", &deliver, &drop));
    CHECK(deliver == 1 && drop == 0);
    ec_chain *ac = read_chain("a");
    REQUIRE(ac);
    js = NULL;
    CHECK(find_event(ac, "wasm/call", 3, &js, NULL) == 0); /* init, 2 from outside, yo */
    CHECK(js && strstr(js, "\"from\":\"a\"") && strstr(js, "\"input\":\"yo\""));
    free(js);
    memset(&rep, 0, sizeof rep);
    CHECK_OK(replay_identical(ac, &rep));
    ec_replay_report_free(&rep);
    ec_chain_free(ac);
    CHECK(unaccounted_abcd() == 0);
    CHECK_OK(resume_run("a", &deliver, &drop));
    CHECK(deliver == 0 && drop == 0);
    scratch_end();
}

/* Runtime-wide caps: bytes of queued message bodies (a send past it refused with EBUSY,
 * recorded; an external one refused) and the actors' memory caps together (a spawn past it
 * refused with EBUSY, recorded; a top-level one refused). */
static void runtime_caps(void)
{
    scratch_begin();
    ec_runtime *rt = msgs_runtime(EC_CHAIN_STORE_MEMORY, 20, 0);
    REQUIRE(rt);
    REQUIRE(spawn(rt, "relay", "a", NULL));
    REQUIRE(spawn(rt, "relay", "b", NULL));
    /* 8 + 8 bytes queued fit in 20; 8 more do not. */
    CHECK_OK(ec_runtime_send(rt, "b", "12345678", 8));
    CHECK_OK(ec_runtime_send(rt, "b", "abcdefgh", 8));
    CHECK(ec_runtime_send(rt, "b", "ABCDEFGH", 8) == EC_EDENIED);
    CHECK(ec_error_last() && strstr(ec_error_last()->message, "max_queued_bytes"));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    /* From an actor: two messages of 11 bytes to b in one call: the first fits (the queue is
     * empty again), the second does not. */
    CHECK_OK(ec_runtime_send(rt, "a", "send2 b 12345678901", 19));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    char *js = NULL;
    ec_chain *ac = ec_actor_chain(ec_runtime_find(rt, "a"));
    CHECK(find_event(ac, "message/send.result", 0, &js, NULL) == 0);
    CHECK(js && strstr(js, "\"ret\":0"));
    free(js);
    js = NULL;
    CHECK(find_event(ac, "message/send.result", 1, &js, NULL) == 0);
    CHECK(js && strstr(js, "\"ret\":-5") && strstr(js, "max_queued_bytes"));
    free(js);
    ec_replay_report rep;
    memset(&rep, 0, sizeof rep);
    CHECK_OK(replay_identical(ac, &rep));
    ec_runtime_free(rt);

    /* Memory: each relay is capped at 256 pages (16 MiB, the default memory_pages); 40 MiB
     * hold two, the third is refused. */
    rt = msgs_runtime(EC_CHAIN_STORE_MEMORY, 0, 40u << 20);
    REQUIRE(rt);
    REQUIRE(spawn(rt, "relay", "m1", NULL));
    REQUIRE(spawn(rt, "relay", "m2", NULL));
    CHECK(spawn(rt, "relay", "m3", NULL) == NULL);
    CHECK(ec_error_last() && strstr(ec_error_last()->message, "max_memory"));
    CHECK(ec_runtime_find(rt, "m3") == NULL);
    ec_runtime_free(rt);
    rt = msgs_runtime(EC_CHAIN_STORE_MEMORY, 0, 40u << 20);
    REQUIRE(rt);
    REQUIRE(spawn(rt, "relay", "m1", NULL));
    /* A child past it: EBUSY, recorded in the parent's chain (the nest of relays stops at
     * the second). */
    REQUIRE(spawn(rt, "relay", "n", "nest"));
    CHECK(ec_runtime_find(rt, "n.kid") == NULL);
    js = NULL;
    CHECK(find_event(ec_actor_chain(ec_runtime_find(rt, "n")), "supervisor/spawn.result", 0, &js,
                     NULL) == 0);
    CHECK(js && strstr(js, "\"ret\":-5") && strstr(js, "max_memory"));
    free(js);
    ec_runtime_free(rt);
    scratch_end();
}

int main(void)
{
    RUN(dropped_after_trap_recorded);
    RUN(dropped_before_stop_linked);
    RUN(failed_spawn_leaves_no_child);
    RUN(refused_spawn_leaves_no_directory);
    RUN(abandoned_send_dropped);
    RUN(unaccounted_send_reported);
    RUN(runtime_caps);
    RUN(killed_queue_requeued);
    TEST_END();
}
