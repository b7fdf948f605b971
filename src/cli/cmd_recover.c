/* cli/cmd_recover.c: `evchain recover` (rebuild an actor by replay up to a point of its chain
 * and continue it live, runtime/recovered) and `evchain resume` (the same after a bundle
 * import or a killed run, runtime/migrated): both deliver the given messages, then stop the
 * actor, or keep it live with --serve, and serving HTTP again with --http. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <evchain/replay.h>

#include "cli.h"
#include "proof_util.h"
#include "replay_cli.h"
#include "serve.h"

const char help_recover[] =
    "rebuild a trapped or stopped actor by replay and continue it live\n"
    "\n"
    "usage: evchain recover <chain-dir> [--to SEQ] [--message TEXT]... [--module FILE]\n"
    "                       [--data-dir DIR] [--cache DIR] [--from-snapshot] [--wait MS]\n"
    "                       [--quiet] [--serve] [--http ADDR:PORT] [--http-allow HOST]...\n"
    "                       [--max-queue N] [--max-queued-bytes N]\n"
    "\n"
    "Replays the actor's chain up to SEQ (a wasm/result: the end of a call, or event 0 of an\n"
    "actor without ec_init; default the last one, i.e. the last good state before a trap),\n"
    "checking every event, then records runtime/recovered naming that point and runs the\n"
    "actor live on the same chain: the --message texts are delivered, then it is stopped.\n"
    "Events between the point and the marker stay in the chain as an abandoned line\n"
    "(docs/ABI.md section 7). The data directory defaults to the one holding <chain-dir>\n"
    "(<data>/actors/<id>/chain, after resolving \".\" and symbolic links; a chain directory\n"
    "elsewhere needs --data-dir).\n"
    "--from-snapshot starts the rebuild from the newest state/snapshot before the point.\n"
    "Timers pending at the point are queued again; --wait MS waits up to MS for them (and\n"
    "those set since) before stopping (default 0: a timer not yet due stays pending).\n"
    "Messages that actors of the data directory (the actor itself included) sent it, that\n"
    "were accepted and that its chain neither delivers nor drops (still queued when their\n"
    "runtime was killed or crashed) are queued again, before the --message texts, in the\n"
    "order they were sent: delivered when sent in a call of the sender's live line that\n"
    "completed, else recorded as message/dropped (a call that trapped, was cut short or\n"
    "was abandoned); the command says how many. A chain of the data directory that cannot\n"
    "be read refuses the recovery (exit 1, nothing written; docs/ABI.md section 7). They\n"
    "count against the queue's limits, as under `evchain run`: --max-queue N (messages and\n"
    "timers waiting, default 65536) and --max-queued-bytes N (bytes of message bodies\n"
    "waiting, default 256 MiB); past them the recovery is refused as a whole (exit 2,\n"
    "nothing written).\n"
    "Going on live, the chain's checkpoints are signed as under `evchain run`: with\n"
    "<data>/runtime.key (made on first use) or --checkpoint-key F; --no-checkpoints: none.\n"
    "A refused recover (or resume) writes nothing: no key, nothing in the cache (a module\n"
    "other than the chain's is refused before it is compiled), the chain's files as they\n"
    "were, a torn last record included (cut only once the recovery goes live; docs/ABI.md\n"
    "section 7).\n"
    "--serve keeps it live instead, answering `evchain send` until `evchain send --stop` or\n"
    "SIGINT/SIGTERM, as `evchain run --serve` does; --http serves its ec_handle_http again\n"
    "(implies --serve): an actor that served HTTP serves again after a crash.\n"
    "Exit 0 when the actor ends running or stopped, 1 when the replay diverges, the actor\n"
    "traps again, or the chain is damaged or holds fewer events than its signed\n"
    "checkpoint covers (checkpoints/latest, or a newer numbered one; nothing is written\n"
    "then: restore it, or, for a chain restored on purpose from an older copy, set its\n"
    "checkpoints aside, kept: evchain checkpoint <chain-dir> --set-aside), 2 on unusable\n"
    "input, 3 a --message (or, with --serve, a message `evchain send` was answered `ok` for)\n"
    "was not delivered: the actor stopped or trapped first, has no handler, or the runtime\n"
    "stopped with it still queued (each said on stderr, recorded as message/dropped; 3 wins\n"
    "over 1, as for `evchain run`).\n"
    "  --serve              keep it live until stopped\n" CLI_HTTP_HELP;

const char help_resume[] =
    "continue an imported (migrated) or killed actor in this data directory\n"
    "\n"
    "usage: evchain resume <actor-id> [--data-dir DIR] [--message TEXT]... [--quiet]\n"
    "                      [--from-snapshot] [--wait MS] [--serve] [--http ADDR:PORT]\n"
    "                      [--http-allow HOST]... [--module FILE] [--cache DIR]\n"
    "                      [--checkpoint-key FILE | --no-checkpoints] [--max-queue N]\n"
    "                      [--max-queued-bytes N]\n"
    "\n"
    "For an actor brought in with `evchain import --bundle`, or one whose `evchain run` was\n"
    "killed: rebuilds it by replay of <data>/actors/<id>/chain up to its last call boundary\n"
    "(module from <data>/cache), records runtime/migrated (runtime/recovered for an actor\n"
    "whose chain ends in a trap of its own) and continues live: the messages still queued\n"
    "for it when its run was killed (found in the data directory's chains, as for recover),\n"
    "then the --message texts are delivered (and its pending timers, within --wait MS),\n"
    "then it is stopped; or,\n"
    "with --serve or --http, it stays live as under `evchain run --serve`, serving HTTP\n"
    "again with --http. --module FILE or --cache DIR: where the module is when it is not in\n"
    "<data>/cache (it must have the SHA-256 actor/start names); checkpoints and\n"
    "--max-queue and --max-queued-bytes as for recover.\n"
    "Exit codes as for recover: 0, 1, 2, and 3 a --message (or, with --serve, a message\n"
    "`evchain send` was answered `ok` for) was not delivered (said on stderr, recorded as\n"
    "message/dropped; 3 wins over 1, as for `evchain run`).\n"
    "  --serve              keep it live until stopped\n" CLI_HTTP_HELP;

#define MAX_MSG 64

/* The runtime's checkpoint key made on first use (<data>/runtime.key): made only once the
 * recovery goes live (ec_recover_options.checkpoint_signer_make), so that a refused one
 * leaves the data directory as it was. */
typedef struct lazy_signer {
    const char *cmd, *data;
    ec_signer *made;
} lazy_signer;

static int make_signer(void *ctx, ec_signer **out)
{
    lazy_signer *l = ctx;
    if (cli_runtime_signer(l->cmd, l->data, NULL, &l->made) != 0)
        return EC_EIO; /* said on stderr */
    *out = l->made;
    return 0;
}

static int recover_main(const char *cmd, int argc, char **argv, int migrated)
{
    const char *target = NULL, *msgs[MAX_MSG];
    size_t nmsg = 0;
    int bad = 0, no_checkpoints = 0, serve_mode = 0, hopt;
    cli_http http;
    memset(&http, 0, sizeof http);
    uint64_t wait_ms = 0;
    const char *cp_key = NULL;
    ec_recover_options o = EC_RECOVER_OPTIONS_INIT;
    o.migrated = migrated;
    for (int i = 1; i < argc; i++) {
        const char *v;
        /* resume too: a killed actor's module may be missing from the cache; either way
         * it must have the SHA-256 actor/start names. */
        if ((v = cli_opt(argc, argv, &i, "--module", &bad)))
            o.module_path = v;
        else if ((v = cli_opt(argc, argv, &i, "--cache", &bad)))
            o.cache_dir = v;
        else if ((v = cli_opt(argc, argv, &i, "--data-dir", &bad)))
            o.data_dir = v;
        else if ((v = cli_opt(argc, argv, &i, "--to", &bad)) && !migrated) {
            if (cli_parse_u64(v, &o.to) || o.to == UINT64_MAX) {
                cli_error(cmd, 0, "--to %s: not a seq", v);
                return EXIT_UNUSABLE;
            }
        } else if (v) {
            cli_error(cmd, 0, "--to: resume continues from the last call boundary");
            return EXIT_UNUSABLE;
        } else if ((v = cli_opt(argc, argv, &i, "--checkpoint-key", &bad))) {
            cp_key = v;
        } else if ((v = cli_opt(argc, argv, &i, "--wait", &bad))) {
            if (cli_parse_u64(v, &wait_ms) || wait_ms > 3600000) {
                cli_error(cmd, 0, "--wait: '%s' is not a number of milliseconds", v);
                return EXIT_UNUSABLE;
            }
        } else if ((v = cli_opt(argc, argv, &i, "--max-queue", &bad))) {
            uint32_t mq;
            if (cli_parse_max_queue(v, &mq)) {
                cli_error(cmd, 0, CLI_MAX_QUEUE_ERR, v);
                return EXIT_UNUSABLE;
            }
            o.max_queue = mq;
        } else if ((v = cli_opt(argc, argv, &i, "--max-queued-bytes", &bad))) {
            if (cli_parse_u64(v, &o.max_queued_bytes) || o.max_queued_bytes == 0) {
                cli_error(cmd, 0, "--max-queued-bytes: '%s' is not a positive number", v);
                return EXIT_UNUSABLE;
            }
        } else if ((v = cli_opt_each(argc, argv, &i, "--message", &bad))) {
            if (nmsg == MAX_MSG) {
                cli_error(cmd, 0, "at most %d --message", MAX_MSG);
                return EXIT_UNUSABLE;
            }
            msgs[nmsg++] = v;
        } else if ((hopt = cli_http_opt(cmd, &http, argc, argv, &i, &bad)) != 0) {
            if (hopt < 0)
                return EXIT_UNUSABLE;
        } else if (bad)
            return EXIT_UNUSABLE;
        else if (cli_flag(argv, i, "--serve"))
            serve_mode = 1;
        else if (cli_flag(argv, i, "--quiet"))
            o.quiet = 1;
        else if (cli_flag(argv, i, "--from-snapshot"))
            o.from_snapshot = 1;
        else if (cli_flag(argv, i, "--no-checkpoints"))
            no_checkpoints = 1;
        else if (cli_arg_kind(argv, i) == CLI_END) {
            /* "--": the operands follow */
        } else if (cli_arg_kind(argv, i) == CLI_UNKNOWN) {
            cli_error(cmd, 0, "unknown option %s (see evchain help %s)", argv[i], cmd);
            return EXIT_UNUSABLE;
        } else if (!target)
            target = argv[i];
        else {
            cli_error(cmd, 0, "one actor at a time (%s)", argv[i]);
            return EXIT_UNUSABLE;
        }
    }
    if (!target) {
        cli_error(cmd, 0, "usage: see evchain help %s", cmd);
        return EXIT_UNUSABLE;
    }
    char path[4400];
    if (migrated) {
        const char *data = o.data_dir ? o.data_dir : "./evchain-data";
        if (!target[0] || strchr(target, '/') || target[0] == '.') {
            cli_error(cmd, 0, "%s: not an actor id", target);
            return EXIT_UNUSABLE;
        }
        snprintf(path, sizeof path, "%s/actors/%s/chain", data, target);
        o.data_dir = data;
    } else {
        snprintf(path, sizeof path, "%s", target);
    }
    char data[4500];
    if (o.data_dir)
        snprintf(data, sizeof data, "%s", o.data_dir);
    else if (ec_actor_data_dir_of(data, sizeof data, path) != 0) {
        cli_error(cmd, 0, "%s: give it with --data-dir", ec_error_last()->message);
        return EXIT_UNUSABLE;
    }
    /* The address is checked before anything is written (the marker, the key). */
    if (http.listen && cli_check_listen(cmd, migrated ? target : path, http.listen))
        return EXIT_UNUSABLE;
    /* Going on live, the chain gets signed checkpoints as under `evchain run`, with the
     * runtime's key of its data directory (<data>/actors/<id>/chain). */
    ec_signer *signer = NULL;
    if (no_checkpoints && cp_key) {
        cli_error(cmd, 0, "--no-checkpoints and --checkpoint-key contradict each other");
        return EXIT_UNUSABLE;
    }
    /* Another runtime serving the data directory refuses this one before the replay appends
     * runtime/recovered (and the stop after it) to the chain. The claim makes the data
     * directory when there is none (as for `run`): a refused command removes it again. */
    int sfd = -1;
    struct stat dst;
    int data_made = stat(data, &dst) != 0;
    if ((serve_mode || http.listen) && (sfd = cli_serve_claim(cmd, data)) < 0)
        return EXIT_UNUSABLE;
    /* A key given, or the data directory's made earlier, is read now (a bad one refuses
     * before the replay); one still to be made is made once the recovery goes live. */
    lazy_signer lazy = {cmd, data, NULL};
    if (!no_checkpoints && (cp_key || !cli_runtime_signer_would_make(data))) {
        if (cli_runtime_signer(cmd, data, cp_key, &signer) != 0) {
            cli_serve_release(sfd, data);
            if (data_made)
                rmdir(data);
            return EXIT_UNUSABLE;
        }
        o.checkpoint_signer = signer;
    } else if (!no_checkpoints) {
        o.checkpoint_signer_make = make_signer;
        o.checkpoint_signer_ctx = &lazy;
    }
    ec_runtime *rt = NULL;
    ec_actor *a = NULL;
    ec_replay_report rep;
    uint64_t mseq = 0;
    int rc = ec_runtime_recover(&rt, &a, path, &o, &rep, &mseq);
    if (!signer)
        signer = lazy.made; /* freed after the runtime, as one read is */
    if (rc) {
        if (rep.diverged) {
            printf("%s: the replay diverges at seq %llu: %s\n", path, (unsigned long long)rep.seq,
                   rep.why);
            printf("  (evchain replay %s shows the report)\n", path);
        } else {
            cli_error(cmd, 1, "cannot %s", cmd);
        }
        ec_replay_report_free(&rep);
        ec_signer_free(signer);
        cli_serve_release(sfd, data);
        if (data_made)
            rmdir(data); /* made by the claim only: empty again */
        /* EC_EVERIFY is exit 1: a damaged stored record, a chain shorter than its signed
         * checkpoint. */
        return rep.diverged ? EXIT_INVALID : cli_exit_code(rc);
    }
    ec_replay_report_free(&rep);
    ec_event mev; /* resume marks a trapped actor runtime/recovered: say what was recorded */
    int mig = ec_chain_get(ec_actor_chain(a), mseq, &mev) == 0 && mev.type_len == 16 &&
              memcmp(mev.type, "runtime/migrated", 16) == 0;
    printf("%s %s: rebuilt by replay of %llu events, %s at seq %llu\n", cmd, ec_actor_id(a),
           (unsigned long long)rep.events, mig ? "runtime/migrated" : "runtime/recovered",
           (unsigned long long)mseq);
    /* The messages still queued for it when the runtime that held them ended (requeue.c):
     * said, as the timers that stay pending are, so that what is delivered now is not taken
     * for something new. */
    size_t redeliver = 0, redrop = 0;
    ec_runtime_recovered_messages(rt, &redeliver, &redrop);
    if (redeliver || redrop)
        printf("%zu message(s) sent to %s and never given (still queued when their runtime "
               "ended) queued again: %zu to deliver, %zu to record as dropped (sent in a call "
               "that did not complete, or that a recovery abandoned)\n",
               redeliver + redrop, ec_actor_id(a), redeliver, redrop);
    fflush(stdout); /* before a served actor's output, when stdout is a pipe or file */
    rc = cli_http_apply(cmd, &http, rt);
    if (rc == 0 && http.listen)
        rc = cli_serve_http(cmd, &http, a, http.listen);
    ec_runtime_lock(rt); /* its HTTP server may be calling into it already */
    for (size_t k = 0; rc == 0 && k < nmsg; k++)
        if ((rc = ec_runtime_send(rt, ec_actor_id(a), msgs[k], strlen(msgs[k]))))
            cli_error(cmd, 1, "--message %zu", k + 1);
    ec_runtime_unlock(rt);
    size_t pending = 0;
    if (rc == 0 && sfd >= 0) {
        rc = cli_serve(cmd, rt, data, sfd, &http);
        sfd = -1;
    } else if (rc == 0)
        rc = ec_runtime_run(rt, wait_ms, &pending);
    /* How the actor ended (running, stopped, trapped: the exit code's), taken before the
     * shutdown stops it. */
    ec_runtime_lock(rt); /* its HTTP server runs until ec_runtime_shutdown */
    ec_actor_state st = ec_actor_get_state(a);
    ec_runtime_unlock(rt);
    /* Stops the actor (actor/stop recorded, after what was still queued for it), so that the
     * count is of the chain as it stays, as `evchain verify` counts it. */
    ec_runtime_shutdown(rt);
    ec_runtime_lock(rt); /* nothing runs any more: taken as for any read of the runtime */
    cli_printf_msg(stdout, "%-24s %-8s %6llu events  %s\n", ec_actor_id(a), ec_actor_state_name(st),
                   (unsigned long long)ec_chain_count(ec_actor_chain(a)),
                   st == EC_ACTOR_RUNNING ? "" : ec_actor_reason(a));
    /* Messages given here that were accepted and then dropped (each said on stderr by the
     * runtime), as `evchain run` counts them: exit 3, over 1 as there. */
    size_t dropped = ec_runtime_dropped_external(rt);
    ec_runtime_unlock(rt);
    if (rc == 0 && pending &&
        st == EC_ACTOR_RUNNING) /* not lost: in the chain, re-armed next time */
        printf("%zu timer(s) not yet due stay pending (--wait MS to wait for them)\n", pending);
    ec_runtime_free(rt); /* closes the chain, a last checkpoint signed */
    cli_serve_release(sfd, data);
    ec_signer_free(signer);
    if (rc)
        return EXIT_UNUSABLE;
    if (dropped)
        return EXIT_UNDELIVERED;
    return st == EC_ACTOR_TRAPPED ? EXIT_INVALID : EXIT_VALID;
}

int cmd_recover(int argc, char **argv)
{
    return recover_main("recover", argc, argv, 0);
}

int cmd_resume(int argc, char **argv)
{
    return recover_main("resume", argc, argv, 1);
}
