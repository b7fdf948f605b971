/* cli/cmd_run.c: `evchain run`: start actors (one module, or a group from a manifest), give
 * them messages, run until idle, or serve messages from `evchain send` on a control socket
 * in the data directory until told to stop. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <evchain/replay.h>

#include "cli.h"
#include "manifest.h"
#include "proof_util.h"
#include "run_control.h"
#include "serve.h"

const char help_run[] =
    "run WebAssembly actors, recording everything they do in their chains\n"
    "usage: evchain run <module.wasm> [options]\n"
    "       evchain run --manifest FILE [options]\n"
    "options:\n"
    "  --name ID            the actor's id (default: the module's file name)\n"
    "  --data-dir DIR       runtime data: chains, sandboxes, store (default ./evchain-data)\n"
    "  --message TEXT       send TEXT to the actor once it started (repeatable)\n"
    "  --args TEXT          initial arguments given to ec_init\n"
    "  --env NAME           let the actor read environment variable NAME (repeatable)\n"
    "  --manifest FILE      start a group: {\"actors\":[{\"id\",\"module\",\"args\",\"env\"}],\n"
    "                       \"messages\":[{\"to\",\"body\"}]}; modules relative to FILE\n"
    "  --serve              keep running: accept `evchain send` until `evchain send --stop`\n"
    "                       or SIGINT/SIGTERM\n"
    "  --wait MS            when not serving, wait this long for pending timers (1000)\n"
    "  --durability P       always | batch | none: the chains' policy (default batch);\n"
    "                       effects: sync before each effect that leaves an actor\n"
    "  --fuel N             fuel per call into an actor (default 1e9)\n"
    "  --memory-pages N     memory cap per actor, 64 KiB pages, 1..65535 (default 256)\n"
    "  --max-memory MIB     memory caps of all actors together: a spawn past it is refused\n"
    "                       (default 4096)\n"
    "  --max-queue N        messages and timers waiting for delivery, all actors together:\n"
    "                       a send or timer past it is refused (default 65536)\n"
    "  --max-queued-bytes N bytes of message bodies waiting for delivery, all actors\n"
    "                       together: a send past it is refused (default 268435456)\n"
    "  --cache DIR          compiled modules (default DIR/cache; made 0700, refused when\n"
    "                       another account could write it: docs/ABI.md section 7)\n"
    "  --quiet              do not echo actor logs\n"
    "  --recover N          rebuild a trapped actor from its last good state by replay, at\n"
    "                       most N times per actor (runtime/recovered; docs/ABI.md section 7)\n"
    "  --snapshot-every N   a state/snapshot of each actor every N calls into it\n"
    "  --checkpoint-key F   sign each actor chain's checkpoints with this key (from\n"
    "                       `evchain keygen`); default DIR/runtime.key, made on first use,\n"
    "                       its verifier key beside it in DIR/runtime.vkey\n"
    "  --checkpoint-every N sign a checkpoint every N events of a chain (default 100000)\n"
    "  --checkpoint-seconds S  ... or every S seconds when events were added (default 10)\n"
    "  --checkpoint-keep N  keep the newest N numbered checkpoint files of a chain\n"
    "                       (default 1000; 0: all); <chain>/checkpoints/latest always stays\n"
    "  --no-checkpoints     keep no Merkle tree and sign no checkpoints\n" CLI_HTTP_HELP
    "                       (in a manifest: an actor's \"http\": \"ADDR:PORT\"; its\n"
    "                       \"http_allow\": [...] replaces --http-allow)\n"
    "exit: 0 all actors ended running or stopped, 1 one ended trapped, 2 unusable input,\n"
    "      3 a message from outside was accepted and not delivered: one given (--message,\n"
    "      manifest) or, with --serve, one `evchain send` was answered `ok` for: its receiver\n"
    "      stopped or trapped first, has no handler, or the runtime stopped with it still\n"
    "      queued (each said on stderr, recorded as message/dropped); 3 wins over 1\n";

/* Local to the command: the names are those of docs (always, batch, none). */
static int parse_durability(ec_durability *out, const char *v)
{
    if (strcmp(v, "always") == 0)
        *out = EC_DURABLE_ALWAYS;
    else if (strcmp(v, "batch") == 0)
        *out = EC_DURABLE_BATCH;
    else if (strcmp(v, "none") == 0)
        *out = EC_DURABLE_NONE;
    else
        return -1;
    return 0;
}

#define MAX_LIST CLI_MANIFEST_LIST

typedef struct start {
    const char *id, *module, *args;
    size_t args_len;
    const char *const *env;
    size_t nenv;
    const char *http; /* ADDR:PORT to serve on, or NULL */
} start;

/* HTTP settings shared by every served actor, and whether any serves. */
static cli_http g_http;

static int spawn_one(ec_runtime *rt, const start *s)
{
    ec_actor_options o = EC_ACTOR_OPTIONS_INIT;
    o.id = s->id;
    o.args = s->args;
    o.args_len = s->args_len;
    o.env_allow = s->env;
    o.env_allow_count = s->nenv;
    ec_actor *a = NULL;
    ec_runtime_lock(rt); /* actors spawned earlier may already serve HTTP */
    int rc = ec_runtime_spawn(rt, s->module, &o, &a);
    ec_runtime_unlock(rt);
    if (rc)
        cli_error("run", 1, "starting %s from %s", s->id, s->module);
    else if (s->http)
        rc = cli_serve_http("run", &g_http, a, s->http);
    return rc;
}

static char *default_id(const char *module)
{
    const char *b = strrchr(module, '/');
    b = b ? b + 1 : module;
    size_t n = strcspn(b, ".");
    return strndup(b, n ? n : strlen(b));
}

/* Queue a message given on the command line or in the manifest, under the runtime's lock.
 * They may be more than the runtime's queue holds (--max-queue, 65536): when it is full, what
 * waits is delivered first (in order, as it would be), so that no count of messages is
 * refused once the actors started and wrote their chains. */
static int send_queued(ec_runtime *rt, const char *to, const void *body, size_t len)
{
    int rc = ec_runtime_send(rt, to, body, len);
    if (rc == EC_EDENIED) {
        ec_runtime_run(rt, 0, NULL);
        rc = ec_runtime_send(rt, to, body, len);
    }
    return rc;
}

/* A manifest checked in full by cli_manifest_parse: the allow-list first (an ec_init may
 * already make requests), then the actors in order, then the messages. */
static int start_manifest(ec_runtime *rt, const cli_manifest *m, const char *path)
{
    int rc = 0;
    if (m->has_allow && (rc = ec_runtime_http_allow(rt, m->allow, m->nallow, g_http.timeout_ms))) {
        cli_error("run", 1, "%s: http_allow", path);
        return rc;
    }
    for (size_t i = 0; rc == 0 && i < m->nactors; i++) {
        const cli_manifest_actor *a = &m->actors[i];
        start s = {a->id, a->module, a->args, a->args_len, a->env, a->nenv, a->http};
        rc = spawn_one(rt, &s);
    }
    ec_runtime_lock(rt);
    for (size_t i = 0; rc == 0 && i < m->nmsgs; i++)
        if ((rc = send_queued(rt, m->msgs[i].to, m->msgs[i].body, m->msgs[i].body_len)))
            cli_error("run", 1, "%s: messages[%zu]", path, i);
    ec_runtime_unlock(rt);
    return rc;
}

/* The whole file, NUL-terminated, at most CLI_MANIFEST_BYTES (+1 to tell a larger one). */
static char *read_small_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(CLI_MANIFEST_BYTES + 2);
    size_t n = buf ? fread(buf, 1, CLI_MANIFEST_BYTES + 1, f) : 0;
    int bad = !buf || ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        errno = buf ? EIO : ENOMEM;
        return NULL;
    }
    buf[n] = 0;
    *len_out = n;
    return buf;
}

int cmd_run(int argc, char **argv)
{
    const char *module = NULL, *name = NULL, *manifest = NULL, *args = NULL, *cache = NULL;
    const char *msgs[MAX_LIST], *env[MAX_LIST];
    size_t nmsg = 0, nenv = 0;
    int bad = 0, serve_mode = 0, hopt;
    uint64_t wait_ms = 1000, fuel = 0, pages = 0, cp_secs = 0, recover = 0, snap = 0;
    const char *cp_key = NULL;
    int no_checkpoints = 0;
    ec_runtime_options ro = EC_RUNTIME_OPTIONS_INIT;
    ro.data_dir = "./evchain-data";
    for (int i = 1; i < argc && !bad; i++) {
        const char *v;
        if ((v = cli_opt(argc, argv, &i, "--name", &bad)))
            name = v;
        else if ((v = cli_opt(argc, argv, &i, "--data-dir", &bad)))
            ro.data_dir = v;
        else if ((v = cli_opt_each(argc, argv, &i, "--message", &bad))) {
            if (nmsg == MAX_LIST) {
                cli_error("run", 0, "at most %d --message", MAX_LIST);
                return EXIT_UNUSABLE;
            }
            msgs[nmsg++] = v;
        } else if ((v = cli_opt_each(argc, argv, &i, "--env", &bad))) {
            if (nenv == MAX_LIST) {
                cli_error("run", 0, "at most %d --env", MAX_LIST);
                return EXIT_UNUSABLE;
            }
            env[nenv++] = v;
        } else if ((hopt = cli_http_opt("run", &g_http, argc, argv, &i, &bad)) != 0) {
            if (hopt < 0)
                return EXIT_UNUSABLE;
        } else if ((v = cli_opt(argc, argv, &i, "--args", &bad)))
            args = v;
        else if ((v = cli_opt(argc, argv, &i, "--manifest", &bad)))
            manifest = v;
        else if ((v = cli_opt(argc, argv, &i, "--cache", &bad)))
            cache = v;
        else if ((v = cli_opt(argc, argv, &i, "--durability", &bad))) {
            if (strcmp(v, "effects") == 0)
                ro.sync_effects = 1;
            else if (parse_durability(&ro.durability, v)) {
                cli_error("run", 0, "--durability: '%s' is not always, batch, none or effects", v);
                return EXIT_UNUSABLE;
            }
        } else if ((v = cli_opt(argc, argv, &i, "--wait", &bad))) {
            if (cli_parse_u64(v, &wait_ms) || wait_ms > 3600000) {
                cli_error("run", 0, "--wait: '%s' is not a number of milliseconds", v);
                return EXIT_UNUSABLE;
            }
        } else if ((v = cli_opt(argc, argv, &i, "--snapshot-every", &bad))) {
            if (cli_parse_u64(v, &snap) || snap > 1000000000) {
                cli_error("run", 0, "--snapshot-every: '%s' is not a number of calls", v);
                return EXIT_UNUSABLE;
            }
        } else if ((v = cli_opt(argc, argv, &i, "--recover", &bad))) {
            if (cli_parse_u64(v, &recover) || recover > 1000000) {
                cli_error("run", 0, "--recover: '%s' is not a number of recoveries", v);
                return EXIT_UNUSABLE;
            }
        } else if ((v = cli_opt(argc, argv, &i, "--fuel", &bad))) {
            if (cli_parse_u64(v, &fuel) || fuel == 0) {
                cli_error("run", 0, "--fuel: '%s' is not a positive number", v);
                return EXIT_UNUSABLE;
            }
        } else if ((v = cli_opt(argc, argv, &i, "--memory-pages", &bad))) {
            if (cli_parse_u64(v, &pages) || pages == 0 || pages > EC_MEMORY_PAGES_MAX) {
                cli_error("run", 0, "--memory-pages: '%s' is not 1..%u", v, EC_MEMORY_PAGES_MAX);
                return EXIT_UNUSABLE;
            }
        } else if ((v = cli_opt(argc, argv, &i, "--max-memory", &bad))) {
            uint64_t mib;
            if (cli_parse_u64(v, &mib) || mib == 0 || mib > (1ull << 30)) {
                cli_error("run", 0, "--max-memory: '%s' is not 1..%llu (MiB)", v, 1ull << 30);
                return EXIT_UNUSABLE;
            }
            ro.max_memory_bytes = mib << 20;
        } else if ((v = cli_opt(argc, argv, &i, "--max-queue", &bad))) {
            if (cli_parse_max_queue(v, &ro.max_queue)) {
                cli_error("run", 0, CLI_MAX_QUEUE_ERR, v);
                return EXIT_UNUSABLE;
            }
        } else if ((v = cli_opt(argc, argv, &i, "--max-queued-bytes", &bad))) {
            if (cli_parse_u64(v, &ro.max_queued_bytes) || ro.max_queued_bytes == 0) {
                cli_error("run", 0, "--max-queued-bytes: '%s' is not a positive number", v);
                return EXIT_UNUSABLE;
            }
        } else if ((v = cli_opt(argc, argv, &i, "--checkpoint-key", &bad))) {
            cp_key = v;
        } else if ((v = cli_opt(argc, argv, &i, "--checkpoint-every", &bad))) {
            if (cli_parse_u64(v, &ro.checkpoint_every_events) || !ro.checkpoint_every_events) {
                cli_error("run", 0, "--checkpoint-every: '%s' is not a positive number", v);
                return EXIT_UNUSABLE;
            }
        } else if ((v = cli_opt(argc, argv, &i, "--checkpoint-seconds", &bad))) {
            if (cli_parse_u64(v, &cp_secs) || !cp_secs || cp_secs > 86400) {
                cli_error("run", 0, "--checkpoint-seconds: '%s' is not 1..86400", v);
                return EXIT_UNUSABLE;
            }
            ro.checkpoint_every_ns = cp_secs * 1000000000ull;
        } else if ((v = cli_opt(argc, argv, &i, "--checkpoint-keep", &bad))) {
            if (cli_parse_u64(v, &ro.checkpoint_keep) || ro.checkpoint_keep == UINT64_MAX) {
                cli_error("run", 0, "--checkpoint-keep: '%s' is not a number", v);
                return EXIT_UNUSABLE;
            }
            if (!ro.checkpoint_keep)
                ro.checkpoint_keep = UINT64_MAX; /* 0 on the command line: all */
        } else if (cli_flag(argv, i, "--no-checkpoints"))
            no_checkpoints = 1;
        else if (cli_flag(argv, i, "--serve"))
            serve_mode = 1;
        else if (cli_flag(argv, i, "--quiet"))
            ro.quiet = 1;
        else if (!bad && cli_arg_kind(argv, i) == CLI_END) {
            /* "--": the operands follow */
        } else if (!bad && cli_arg_kind(argv, i) == CLI_UNKNOWN) {
            cli_error("run", 0, "unknown option %s (see evchain help run)", argv[i]);
            return EXIT_UNUSABLE;
        } else if (!bad && !module)
            module = argv[i];
        else if (!bad) {
            cli_error("run", 0, "unexpected argument '%s'", argv[i]);
            return EXIT_UNUSABLE;
        }
    }
    if (bad)
        return EXIT_UNUSABLE;
    if (!module && !manifest) {
        cli_error("run", 0, "give a module or --manifest FILE (see evchain help run)");
        return EXIT_UNUSABLE;
    }
    if (!module && (name || nmsg || args || nenv || g_http.listen)) {
        cli_error("run", 0,
                  "--name, --message, --args, --env and --http apply to a module argument");
        return EXIT_UNUSABLE;
    }
    /* Refuse what cannot run before anything is written (the runtime key, the data directory,
     * an actor's chain): the module's magic, its actor id, and the manifest in full. The
     * runtime checks each module in full when it loads it. */
    char *id = NULL;
    ec_signer *signer = NULL;
    ec_runtime *rt = NULL;
    int sfd = -1; /* the control socket, claimed before anything is written */
    cli_manifest man;
    memset(&man, 0, sizeof man);
    if (module) {
        FILE *mf = fopen(module, "rb");
        unsigned char magic[4] = {0};
        size_t got = mf ? fread(magic, 1, sizeof magic, mf) : 0;
        int rerr = !mf ? errno : ferror(mf) ? errno : 0; /* EISDIR: fopen takes a directory */
        if (mf)
            fclose(mf);
        if (rerr) {
            cli_error("run", 0, "%s: %s", module, strerror(rerr));
            goto unusable;
        }
        if (got != 4 || memcmp(magic, "\0asm", 4) != 0) {
            cli_error("run", 0, "%s: not a WebAssembly module (no \\0asm magic)", module);
            goto unusable;
        }
        id = name ? strdup(name) : default_id(module);
        if (!id) {
            cli_error("run", 0, "out of memory");
            goto unusable;
        }
        if (!ec_actor_id_valid(id, strlen(id))) {
            cli_error("run", 0,
                      "'%s' is not an actor id (1 to 64 of A-Z a-z 0-9 _ - ., not starting "
                      "with '.')%s",
                      id, name ? "" : ": give one with --name");
            goto unusable;
        }
    }
    if (manifest) {
        size_t len = 0;
        char *text = read_small_file(manifest, &len), err[600];
        if (!text) {
            cli_error("run", 0, "%s: %s", manifest, strerror(errno));
            goto unusable;
        }
        int bad_man = cli_manifest_parse(&man, text, len, manifest, id, err, sizeof err) ||
                      cli_manifest_check_modules(&man, err, sizeof err);
        free(text);
        if (bad_man) {
            cli_error("run", 0, "%s", err);
            goto unusable;
        }
    }
    /* Every address to serve on is checked now, not once its actor's chain exists. */
    if (module && g_http.listen && cli_check_listen("run", id, g_http.listen))
        goto unusable;
    for (size_t k = 0; k < man.nactors; k++)
        if (man.actors[k].http && cli_check_listen("run", man.actors[k].id, man.actors[k].http))
            goto unusable;
    /* An actor whose chain is already in the data directory cannot start (the runtime refuses
     * to write over it): found now, not after the actors before it started. */
    for (size_t k = 0; k <= man.nactors; k++) {
        const char *aid = k < man.nactors ? man.actors[k].id : id;
        char cpath[4400];
        struct stat st;
        if (!aid)
            continue;
        snprintf(cpath, sizeof cpath, "%s/actors/%s/chain", ro.data_dir, aid);
        if (stat(cpath, &st) == 0) {
            /* One with no event at all (a run killed before its first event reached the disk,
             * under durability none) cannot be resumed: there is no actor/start to resume
             * from. Said so, rather than sending the user to a resume that fails. */
            ec_chain *old = NULL;
            ec_open_options oo = EC_OPEN_OPTIONS_INIT;
            if (ec_chain_open_path(&old, cpath, &oo) == 0 && ec_chain_count(old) == 0)
                cli_error("run", 0,
                          "actor %s: %s holds an empty chain (0 events: a run stopped before "
                          "its first event was written); remove that directory to run the "
                          "actor again, or use another data directory or actor id",
                          aid, cpath);
            else
                cli_error("run", 0,
                          "actor %s: %s already holds a chain (`evchain resume %s --data-dir "
                          "%s` continues that actor; or use another data directory or actor "
                          "id)",
                          aid, cpath, aid, ro.data_dir);
            ec_chain_free(old);
            ec_error_clear();
            goto unusable;
        }
    }
    /* Another runtime serving this data directory refuses this one now, not once its actors'
     * chains exist. */
    int serving = serve_mode || g_http.listen;
    for (size_t k = 0; k < man.nactors; k++)
        serving |= man.actors[k].http != NULL;
    if (serving && (sfd = cli_serve_claim("run", ro.data_dir)) < 0)
        goto unusable;
    ro.cache_dir = cache;
    ro.fuel = fuel;
    ro.memory_pages = (uint32_t)pages;
    if (no_checkpoints && cp_key) {
        cli_error("run", 0, "--no-checkpoints and --checkpoint-key contradict each other");
    } else if (no_checkpoints || cli_runtime_signer("run", ro.data_dir, cp_key, &signer) == 0) {
        ro.checkpoint_signer = signer;
        if (ec_runtime_new(&rt, &ro) != 0)
            cli_error("run", 1, "cannot start the runtime");
    }
    if (!rt)
        goto unusable;
    ec_runtime_set_recover(rt, (uint32_t)recover);
    ec_runtime_set_snapshot_every(rt, (uint32_t)snap);
    /* Every module loaded (compiled into the cache, its imports checked) before any actor
     * starts: a module that cannot run must not leave the actors before it started. */
    int rc = 0;
    ec_runtime_lock(rt);
    if (module && (rc = ec_runtime_prepare(rt, module, NULL)))
        cli_error("run", 1, "%s", module);
    for (size_t k = 0; rc == 0 && k < man.nactors; k++)
        if ((rc = ec_runtime_prepare(rt, man.actors[k].module, NULL)))
            cli_error("run", 1, "%s: actors[%zu].module", manifest, k);
    ec_runtime_unlock(rt);
    if (rc == 0)
        rc = cli_http_apply("run", &g_http, rt);
    if (rc == 0 && module) {
        start s = {id, module, args, args ? strlen(args) : 0, env, nenv, g_http.listen};
        rc = spawn_one(rt, &s);
        ec_runtime_lock(rt);
        for (size_t k = 0; rc == 0 && k < nmsg; k++)
            if ((rc = send_queued(rt, id, msgs[k], strlen(msgs[k]))))
                cli_error("run", 1, "--message %zu", k + 1);
        ec_runtime_unlock(rt);
    }
    if (rc == 0 && manifest)
        rc = start_manifest(rt, &man, manifest);
    if (rc == 0) {
        if (sfd >= 0) {
            rc = cli_serve("run", rt, ro.data_dir, sfd, &g_http);
            sfd = -1;
        } else
            rc = ec_runtime_run(rt, wait_ms, NULL);
    }
    int trapped = 0;
    /* How each actor ended the run (running, stopped, trapped: the exit code's), taken before
     * the shutdown stops the running ones. */
    ec_runtime_lock(rt); /* HTTP servers still run until ec_runtime_shutdown */
    size_t n = ec_runtime_actor_count(rt);
    ec_actor_state *ended = calloc(n ? n : 1, sizeof *ended);
    for (size_t k = 0; k < n && ended; k++)
        ended[k] = ec_actor_get_state(ec_runtime_actor_at(rt, k));
    ec_runtime_unlock(rt);
    if (!ended && rc == 0) {
        cli_error("run", 0, "out of memory");
        rc = -1;
    }
    /* Stops every running actor (actor/stop recorded, after what was still queued for it:
     * message/dropped), so that the counts below are of the chains as they stay. */
    ec_runtime_shutdown(rt);
    ec_runtime_lock(rt); /* nothing runs any more: taken as for any read of the runtime */
    for (size_t k = 0; k < n && rc == 0; k++) {
        ec_actor *a = ec_runtime_actor_at(rt, k);
        if (ended[k] == EC_ACTOR_TRAPPED)
            trapped = 1;
        cli_printf_msg(stdout, "%-24s %-8s %6llu events  %s\n", ec_actor_id(a),
                       ec_actor_state_name(ended[k]),
                       (unsigned long long)ec_chain_count(ec_actor_chain(a)),
                       ended[k] == EC_ACTOR_RUNNING ? "" : ec_actor_reason(a));
    }
    free(ended);
    /* Messages given here that were accepted and then dropped (each said on stderr), those
     * the shutdown dropped included. */
    size_t dropped = ec_runtime_dropped_external(rt);
    ec_runtime_unlock(rt);
    /* Closes the chains (a last checkpoint signed): nothing is left to stop. */
    ec_runtime_free(rt);
    cli_serve_release(sfd, ro.data_dir);
    ec_signer_free(signer);
    cli_manifest_free(&man);
    free(id);
    if (rc)
        return EXIT_UNUSABLE;
    if (dropped)
        return EXIT_UNDELIVERED;
    return trapped ? EXIT_INVALID : EXIT_VALID;
unusable: /* refused before any actor started */
    cli_serve_release(sfd, ro.data_dir);
    ec_signer_free(signer);
    cli_manifest_free(&man);
    free(id);
    return EXIT_UNUSABLE;
}
