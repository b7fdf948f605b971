/* tests/test_actor_hostile.c: hostile actors are contained: an endless loop, a memory bomb,
 * deep recursion, bad pointers and lengths given to host calls, path escapes (.., absolute,
 * symlinks), a message over the limit, an import the host lacks. Each ends as a recorded
 * trap or a recorded refusal, and a bystander actor keeps working. */
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <evchain/replay.h>
#include "test_actor_util.h"

/* Run one attack on a fresh hostile actor; returns the JSON of its first event of `type`. */
static char *attack(ec_runtime *rt, const char *id, const char *msg, const char *type)
{
    ec_actor *h = spawn(rt, "hostile", id, NULL);
    if (!h)
        return NULL;
    if (ec_runtime_send(rt, id, msg, strlen(msg)) || ec_runtime_run(rt, 0, NULL))
        return NULL;
    char *js = NULL;
    if (find_event(ec_actor_chain(h), type, 0, &js, NULL))
        return NULL;
    if (check_chain(ec_actor_chain(h)) < 0) {
        free(js);
        return NULL;
    }
    return js;
}

static ec_runtime *hostile_runtime(void)
{
    char cache[512];
    snprintf(cache, sizeof cache, "%s/actor-cache", build_dir());
    ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT;
    o.data_dir = t_data;
    o.cache_dir = cache;
    o.chain_store = EC_CHAIN_STORE_MEMORY;
    o.fuel = 2000000; /* enough for every example; an endless loop runs out fast */
    o.memory_pages = 64;
    o.max_message = 64 * 1024;
    o.max_queue = 100;
    o.max_actors = 24;
    o.write_budget = 4096;
    o.quiet = 1;
    ec_runtime *rt = NULL;
    return ec_runtime_new(&rt, &o) == 0 ? rt : NULL;
}

static int trapped(ec_runtime *rt, const char *id)
{
    ec_actor *a = ec_runtime_find(rt, id);
    return a && ec_actor_get_state(a) == EC_ACTOR_TRAPPED;
}

static void traps_are_contained(void)
{
    scratch_begin();
    ec_runtime *rt = hostile_runtime();
    REQUIRE(rt);
    REQUIRE(spawn(rt, "counter", "bystander", NULL));
    char *js;

    js = attack(rt, "loop", "loop", "wasm/trap");
    CHECK(js && strstr(js, "out of fuel"));
    CHECK(trapped(rt, "loop"));
    free(js);

    js = attack(rt, "bomb", "bomb", "wasm/trap");
    CHECK(js && strstr(js, "out of bounds"));
    CHECK(trapped(rt, "bomb"));
    free(js);
    /* It grew to the runtime's cap (64 pages here), not to the 1024 its module declares. */
    js = NULL;
    CHECK(find_event(ec_actor_chain(ec_runtime_find(rt, "bomb")), "runtime/log", 0, &js, NULL) ==
          0);
    CHECK(js && strstr(js, "\"text\":\"pages 64\""));
    free(js);

    js = attack(rt, "deep", "recurse", "wasm/trap");
    CHECK(js && (strstr(js, "call stack exhausted") || strstr(js, "out of bounds")));
    CHECK(trapped(rt, "deep"));
    free(js);

    js = attack(rt, "oob", "oob", "wasm/trap");
    CHECK(js && strstr(js, "host call log given a bad pointer"));
    CHECK(trapped(rt, "oob"));
    free(js);
    /* A bad pointer traps before anything is recorded for the host call. */
    CHECK(find_event(ec_actor_chain(ec_runtime_find(rt, "oob")), "runtime/log", 0, NULL, NULL) ==
          -1);

    js = attack(rt, "len", "len", "wasm/trap");
    CHECK(js && strstr(js, "host call fs_write given a bad pointer"));
    free(js);

    js = attack(rt, "div", "divzero", "wasm/trap");
    CHECK(js && strstr(js, "division by zero"));
    free(js);

    /* A trapped actor takes no more calls: a message to it is refused, not dropped. */
    CHECK(ec_runtime_send(rt, "div", "x", 1) == EC_EDENIED);
    CHECK(ec_error_last() && strstr(ec_error_last()->message, "actor div is trapped"));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    CHECK(find_event(ec_actor_chain(ec_runtime_find(rt, "div")), "wasm/call", 1, NULL, NULL) == -1);

    /* Refusals, not traps: the actor keeps running. */
    js = attack(rt, "huge", "huge", "message/send.result");
    CHECK(js && strstr(js, "\"ret\":-4") && strstr(js, "over the limit"));
    CHECK(!trapped(rt, "huge"));
    free(js);
    js = NULL;
    CHECK(find_event(ec_actor_chain(ec_runtime_find(rt, "huge")), "message/send", 0, &js, NULL) ==
          0);
    CHECK(js && strstr(js, "\"len\":2097152") && !strstr(js, "\"body\""));
    free(js);

    /* A flood of messages and timers: the first 100 of each are queued, the rest refused
     * (EBUSY, recorded); the queue drains and the actor goes on. */
    js = attack(rt, "flood", "flood 150", "wasm/result");
    CHECK(js && strstr(js, "\"ret\":0"));
    free(js);
    ec_chain *fc = ec_actor_chain(ec_runtime_find(rt, "flood"));
    js = NULL;
    CHECK(find_event(fc, "message/send.result", 99, &js, NULL) == 0);
    CHECK(js && strstr(js, "\"ret\":0"));
    free(js);
    js = NULL;
    CHECK(find_event(fc, "message/send.result", 100, &js, NULL) == 0);
    CHECK(js && strstr(js, "\"ret\":-5") && strstr(js, "queue is full"));
    free(js);
    js = NULL;
    CHECK(find_event(fc, "timer/set.result", 100, &js, NULL) == 0);
    CHECK(js && strstr(js, "\"ret\":-5") && strstr(js, "timers already pending"));
    free(js);
    CHECK(find_event(fc, "wasm/call", 100, NULL, NULL) == 0);  /* the flood, 100 "x"... */
    CHECK(find_event(fc, "wasm/call", 101, NULL, NULL) == -1); /* ...and no more */
    CHECK(ec_runtime_send(rt, "bystander", "x", 1) == 0);
    CHECK_OK(ec_runtime_run(rt, 0, NULL));

    /* A disk bomb: four 1 KiB files fit the 4 KiB write budget, the fifth is refused. */
    js = attack(rt, "fill", "fill 100", "wasm/result");
    CHECK(js && strstr(js, "\"ret\":4"));
    free(js);
    js = NULL;
    CHECK(find_event(ec_actor_chain(ec_runtime_find(rt, "fill")), "fs/write.result", 4, &js,
                     NULL) == 0);
    CHECK(js && strstr(js, "\"ret\":-4") && strstr(js, "write budget"));
    free(js);

    /* The bystander never noticed. */
    CHECK_OK(ec_runtime_send(rt, "bystander", "inc", 3));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    ec_actor *b = ec_runtime_find(rt, "bystander");
    CHECK(ec_actor_get_state(b) == EC_ACTOR_RUNNING);
    CHECK(find_event(ec_actor_chain(b), "wasm/result", 1, NULL, NULL) == 0);
    ec_runtime_free(rt);
    scratch_end();
}

/* Nesting is bounded: an actor on the call stack is not re-entered, and children come only
 * from plain module names next to the parent's module. */
static void reentry_and_spawn_refused(void)
{
    scratch_begin();
    ec_runtime *rt = hostile_runtime();
    REQUIRE(rt);
    char *js = attack(rt, "me", "self", "message/request.result");
    CHECK(js && strstr(js, "\"ret\":-5") && strstr(js, "already in a call"));
    free(js);
    CHECK(!trapped(rt, "me"));
    static const char *const bad[][2] = {{"spawn ../../bin/x", "\"ret\":-1"},
                                         {"spawn nosuch", "\"ret\":-2"},
                                         {"spawn badimport", "launch_missiles"}};
    for (int k = 0; k < 3; k++) {
        char id[16];
        snprintf(id, sizeof id, "sp%d", k);
        js = attack(rt, id, bad[k][0], "supervisor/spawn.result");
        CHECK(js && strstr(js, bad[k][1]));
        if (js && !strstr(js, bad[k][1]))
            fprintf(stderr, "%s: %s\n", bad[k][0], js);
        free(js);
    }
    CHECK(ec_runtime_find(rt, "sp0.kid") == NULL && ec_runtime_find(rt, "sp2.kid") == NULL);
    /* A good child spawns, once: the same name again is busy. */
    js = attack(rt, "sp3", "spawn worker", "supervisor/spawn.result");
    CHECK(js && strstr(js, "\"ret\":0"));
    free(js);
    CHECK(ec_runtime_find(rt, "sp3.kid") != NULL);
    CHECK_OK(ec_runtime_send(rt, "sp3", "spawn worker", 12));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    CHECK(find_event(ec_actor_chain(ec_runtime_find(rt, "sp3")), "supervisor/spawn.result", 1, &js,
                     NULL) == 0);
    CHECK(js && strstr(js, "\"ret\":-5") && strstr(js, "actor sp3.kid exists already"));
    free(js);
    /* A child id over 64 characters: refused, saying so. */
    char longid[64];
    memset(longid, 'L', 61);
    longid[61] = 0;
    js = attack(rt, longid, "spawn worker", "supervisor/spawn.result");
    CHECK(js && strstr(js, "\"ret\":-1") && strstr(js, "65 characters, over 64"));
    free(js);
    /* Spawning without end stops at the runtime's bound on actors (24 here), refused. */
    size_t before = ec_runtime_actor_count(rt);
    js = attack(rt, "many", "spawnmany 2000", "wasm/result");
    char want[32];
    snprintf(want, sizeof want, "\"ret\":%zu", 24 - before - 1);
    CHECK(js && strstr(js, want));
    free(js);
    CHECK(ec_runtime_actor_count(rt) == 24);
    /* A parent that traps takes its children with it. */
    CHECK_OK(ec_runtime_send(rt, "sp3", "divzero", 7));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    ec_actor *kid = ec_runtime_find(rt, "sp3.kid");
    CHECK(trapped(rt, "sp3") && ec_actor_get_state(kid) == EC_ACTOR_STOPPED);
    CHECK(strstr(ec_actor_reason(kid), "parent trapped") != NULL);
    ec_runtime_free(rt);
    scratch_end();
}

/* Input the actor cannot place: its ec_alloc refuses (returns 0) and the call is a trap,
 * recorded; an outside message over the runtime's limit is refused before it is queued. */
static void oversized_input(void)
{
    scratch_begin();
    ec_runtime *rt = new_runtime(0);
    REQUIRE(rt);
    REQUIRE(spawn(rt, "counter", "c", NULL));
    size_t n = 300 * 1024; /* over the actors' 256 KiB input arena, under the 1 MiB limit */
    char *big = calloc(1, 2u << 20);
    REQUIRE(big);
    memset(big, 'x', n);
    CHECK_OK(ec_runtime_send(rt, "c", big, n));
    CHECK(ec_runtime_send(rt, "c", big, 2u << 20) == EC_EDENIED);
    free(big);
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    CHECK(trapped(rt, "c"));
    char *js = NULL;
    CHECK(find_event(ec_actor_chain(ec_runtime_find(rt, "c")), "wasm/trap", 0, &js, NULL) == 0);
    CHECK(js && strstr(js, "ec_alloc(307200) returned 0"));
    free(js);
    ec_runtime_free(rt);
    scratch_end();
}

static void path_escapes_refused(void)
{
    scratch_begin();
    ec_runtime *rt = hostile_runtime();
    REQUIRE(rt);
    REQUIRE(spawn(rt, "files", "f", NULL));
    /* Symlinks planted in the sandbox: one absolute, one relative that climbs out, one that
     * stays inside (allowed). */
    char p[512], secret[512];
    snprintf(secret, sizeof secret, "%s/secret.txt", t_data);
    FILE *fp = fopen(secret, "w");
    REQUIRE(fp);
    fputs("top secret", fp);
    fclose(fp);
    snprintf(p, sizeof p, "%s/actors/f/fs/abs", t_data);
    REQUIRE(symlink(secret, p) == 0);
    snprintf(p, sizeof p, "%s/actors/f/fs/up", t_data);
    REQUIRE(symlink("../../..", p) == 0);
    snprintf(p, sizeof p, "%s/actors/f/fs/inside", t_data);
    REQUIRE(symlink("in.txt", p) == 0);
    const char *attacks[] = {
        "read ../../../secret.txt", "read /etc/passwd",       "read abs",
        "read up/secret.txt",       "write up/planted.txt x", "delete up/secret.txt",
        "exists up/secret.txt",     "write ok/../../x y"};
    for (size_t k = 0; k < sizeof attacks / sizeof attacks[0]; k++)
        CHECK_OK(ec_runtime_send(rt, "f", attacks[k], strlen(attacks[k])));
    CHECK_OK(ec_runtime_send(rt, "f", "write in.txt fine", 17));
    CHECK_OK(ec_runtime_send(rt, "f", "read inside", 11));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    ec_actor *f = ec_runtime_find(rt, "f");
    CHECK(ec_actor_get_state(f) == EC_ACTOR_RUNNING);
    ec_chain *c = ec_actor_chain(f);
    static const char *const types[] = {"fs/read.result",   "fs/read.result",  "fs/read.result",
                                        "fs/read.result",   "fs/write.result", "fs/delete.result",
                                        "fs/exists.result", "fs/write.result"};
    int nth[8] = {0, 1, 2, 3, 0, 0, 0, 1};
    for (int k = 0; k < 8; k++) {
        char *js = NULL;
        CHECK(find_event(c, types[k], nth[k], &js, NULL) == 0);
        if (!js || !strstr(js, "\"ret\":-3") || !(strstr(js, "sandbox") || strstr(js, "refused")))
            fprintf(stderr, "attack %d (%s) not refused: %s\n", k, attacks[k], js);
        CHECK(js && strstr(js, "\"ret\":-3"));
        free(js);
    }
    struct stat st;
    snprintf(p, sizeof p, "%s/planted.txt", t_data);
    CHECK(stat(p, &st) != 0);
    CHECK(stat(secret, &st) == 0);
    /* The symlink that stays inside works. */
    char *js = NULL;
    CHECK(find_event(c, "fs/read.result", 4, &js, NULL) == 0);
    CHECK(js && strstr(js, "\"out\":\"fine\""));
    free(js);
    CHECK(check_chain(c) > 0);
    ec_runtime_free(rt);
    scratch_end();
}

/* fs_write's temporary file cannot be planted: a hard link to a file outside the sandbox at
 * the name the runtime once used (".ec-tmp-<pid>") is left alone, and so is a FIFO there
 * (whose open used to wait for a writer with the runtime lock held: alarm ends a hang). */
static void tmp_name_not_plantable(void)
{
    scratch_begin();
    ec_runtime *rt = hostile_runtime();
    REQUIRE(rt);
    REQUIRE(spawn(rt, "files", "f", NULL));
    char victim[512], p[512];
    snprintf(victim, sizeof victim, "%s/victim.txt", t_data);
    FILE *fp = fopen(victim, "w");
    REQUIRE(fp);
    fputs("orig", fp);
    fclose(fp);
    snprintf(p, sizeof p, "%s/actors/f/fs/.ec-tmp-%d", t_data, (int)getpid());
    REQUIRE(link(victim, p) == 0);
    snprintf(p, sizeof p, "%s/actors/f/fs/sub", t_data);
    REQUIRE(mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/actors/f/fs/sub/.ec-tmp-%d", t_data, (int)getpid());
    REQUIRE(mkfifo(p, 0644) == 0);
    CHECK_OK(ec_runtime_send(rt, "f", "write z.txt PWNED", 17));
    CHECK_OK(ec_runtime_send(rt, "f", "write sub/y.txt fifo", 20));
    CHECK_OK(ec_runtime_send(rt, "f", "list", 4));
    alarm(20);
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    alarm(0);
    char buf[64] = "";
    fp = fopen(victim, "r");
    REQUIRE(fp);
    CHECK(fgets(buf, sizeof buf, fp) != NULL);
    fclose(fp);
    CHECK(strcmp(buf, "orig") == 0);
    ec_chain *c = ec_actor_chain(ec_runtime_find(rt, "f"));
    for (int k = 0; k < 2; k++) {
        char *js = NULL;
        CHECK(find_event(c, "fs/write.result", k, &js, NULL) == 0);
        CHECK(js && strstr(js, "\"ret\":0") && !strstr(js, "ec-tmp"));
        free(js);
    }
    snprintf(p, sizeof p, "%s/actors/f/fs/z.txt", t_data);
    fp = fopen(p, "r");
    CHECK(fp && fgets(buf, sizeof buf, fp) && strcmp(buf, "PWNED") == 0);
    if (fp)
        fclose(fp);
    /* The listing shows neither the planted names nor any temporary of the runtime's. */
    char *js = NULL;
    CHECK(find_event(c, "fs/list.result", 0, &js, NULL) == 0);
    CHECK(js && !strstr(js, "ec-tmp"));
    free(js);
    CHECK(check_chain(c) > 0);
    ec_runtime_free(rt);
    scratch_end();
}

/* Path errors say what is wrong (docs/ABI.md section 2): a trailing '/' is an empty final
 * component (EINVAL, not "no such file"), a 256-byte name is a bad argument (EINVAL, not a
 * host failure), and the reason survives a long path in the 200-byte error text. */
static void fs_path_errors(void)
{
    scratch_begin();
    ec_runtime *rt = hostile_runtime();
    REQUIRE(rt);
    REQUIRE(spawn(rt, "files", "f", NULL));
    char p[512];
    snprintf(p, sizeof p, "%s/actors/f/fs/sub", t_data);
    REQUIRE(mkdir(p, 0755) == 0);
    char name[257], deep[4 * 201 + 16], msg[1024];
    memset(name, 'n', 256);
    name[256] = 0;
    size_t dl = 0;
    for (int k = 0; k < 4; k++) {
        memset(deep + dl, 'd', 200);
        dl += 200;
        deep[dl++] = '/';
    }
    memcpy(deep + dl, "file", 5);
    static const char *const plain[] = {"write sub/ x", "delete sub/", "read sub/"};
    for (int k = 0; k < 3; k++)
        CHECK_OK(ec_runtime_send(rt, "f", plain[k], strlen(plain[k])));
    snprintf(msg, sizeof msg, "write %s x", name);
    CHECK_OK(ec_runtime_send(rt, "f", msg, strlen(msg)));
    snprintf(msg, sizeof msg, "exists %s", name);
    CHECK_OK(ec_runtime_send(rt, "f", msg, strlen(msg)));
    snprintf(msg, sizeof msg, "read %s", deep);
    CHECK_OK(ec_runtime_send(rt, "f", msg, strlen(msg)));
    /* A path that is not UTF-8, or holds a control character, is refused (EINVAL) before it
     * is looked up: a bundle could not carry such a name (docs/FORMAT.md section 8). */
    CHECK_OK(ec_runtime_send(rt, "f", "read \xff", 6));
    static const char ctl[] = "write a\x1b[2Jb x";
    CHECK_OK(ec_runtime_send(rt, "f", ctl, strlen(ctl)));
    CHECK_OK(ec_runtime_run(rt, 0, NULL));
    ec_chain *c = ec_actor_chain(ec_runtime_find(rt, "f"));
    static const struct {
        const char *type;
        int nth;
        const char *want;
    } exp[] = {{"fs/write.result", 0, "\"ret\":-1"},
               {"fs/delete.result", 0, "\"ret\":-1"},
               {"fs/read.result", 0, "\"ret\":-1"},
               {"fs/write.result", 1, "\"ret\":-1"},
               {"fs/exists.result", 0, "\"ret\":-1"},
               {"fs/read.result", 1, "\"ret\":-2"},
               {"fs/read.result", 1, "...: no such file"},
               {"fs/write.result", 1, "255 bytes"},
               {"fs/read.result", 2, "\"ret\":-1"},
               {"fs/read.result", 2, "not valid UTF-8"},
               {"fs/write.result", 2, "\"ret\":-1"},
               {"fs/write.result", 2, "path contains a control character"}};
    for (size_t k = 0; k < sizeof exp / sizeof exp[0]; k++) {
        char *js = NULL;
        CHECK(find_event(c, exp[k].type, exp[k].nth, &js, NULL) == 0);
        if (!js || !strstr(js, exp[k].want))
            fprintf(stderr, "%s #%d: want %s, got %s\n", exp[k].type, exp[k].nth, exp[k].want, js);
        CHECK(js && strstr(js, exp[k].want));
        free(js);
    }
    /* The directory is still there: nothing was deleted through "sub/". */
    struct stat st;
    CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK(check_chain(c) > 0);
    ec_runtime_free(rt);
    scratch_end();
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *interrupt_later(void *rt)
{
    struct timespec ts = {0, 200 * 1000000L};
    nanosleep(&ts, NULL);
    ec_runtime_interrupt(rt);
    return NULL;
}

/* An endless call with fuel for hours is interrupted from another thread: it ends at once
 * as a trap recorded as interrupted, with the fuel it had used; the chain verifies and a
 * replay stops it at that same point (byte for byte). The runtime then starts no call. */
static void interrupt_ends_endless_call(void)
{
    const char *const attacks[] = {"loop", "tickloop"};
    for (int k = 0; k < 2; k++) {
        scratch_begin();
        ec_runtime_options o = EC_RUNTIME_OPTIONS_INIT;
        o.chain_store = EC_CHAIN_STORE_MEMORY;
        o.fuel = UINT64_C(1) << 50;
        ec_runtime *rt = new_runtime_with(&o);
        REQUIRE(rt);
        ec_actor *h = spawn(rt, "hostile", "h", NULL);
        ec_actor *b = spawn(rt, "counter", "bystander", NULL);
        REQUIRE(h && b);
        CHECK(!ec_runtime_interrupted(rt));
        CHECK_OK(ec_runtime_send(rt, "h", attacks[k], strlen(attacks[k])));
        CHECK_OK(ec_runtime_send(rt, "bystander", "inc", 3));
        pthread_t t;
        REQUIRE(pthread_create(&t, NULL, interrupt_later, rt) == 0);
        double t0 = now_s();
        CHECK_OK(ec_runtime_run(rt, 0, NULL));
        double took = now_s() - t0;
        pthread_join(t, NULL);
        CHECK(took >= 0.15 && took < 3.0);
        CHECK(ec_runtime_interrupted(rt));
        CHECK(ec_actor_get_state(h) == EC_ACTOR_TRAPPED);
        char *js = NULL;
        CHECK(find_event(ec_actor_chain(h), "wasm/trap", 0, &js, NULL) == 0);
        CHECK(js && strstr(js, "\"reason\":\"interrupted (runtime stopping)\"") &&
              strstr(js, "\"fuel\":"));
        if (js) { /* it ran a while: some units used, far from its budget */
            const char *f = strstr(js, "\"fuel\":");
            unsigned long long used = f ? strtoull(f + 7, NULL, 10) : 0;
            CHECK(used > 1000 && used < (UINT64_C(1) << 50));
        }
        free(js);
        if (k == 1) /* host calls before the interruption: replayed, then stopped */
            CHECK(find_event(ec_actor_chain(h), "time/now.result", 0, NULL, NULL) == 0);
        CHECK(check_chain(ec_actor_chain(h)) > 0);
        {
            ec_replay_report rep;
            memset(&rep, 0, sizeof rep);
            CHECK_OK(replay_identical(ec_actor_chain(h), &rep));
            ec_replay_report_free(&rep);
        }
        /* Queued after the interrupt: nothing starts, nothing is recorded. */
        CHECK(find_event(ec_actor_chain(b), "wasm/call", 1, NULL, NULL) == -1);
        CHECK(ec_actor_get_state(b) == EC_ACTOR_RUNNING);
        ec_runtime_free(rt);
        scratch_end();
    }
}

int main(void)
{
    RUN(interrupt_ends_endless_call);
    RUN(traps_are_contained);
    RUN(oversized_input);
    RUN(path_escapes_refused);
    RUN(tmp_name_not_plantable);
    RUN(fs_path_errors);
    RUN(reentry_and_spawn_refused);
    TEST_END();
}
