/* cli/serve.c: keeping actors live for `run`, `recover` and `resume`: the HTTP options,
 * serving an actor over HTTP, and the loop that answers `evchain send` (serve.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "run_control.h"
#include "serve.h"

int cli_http_opt(const char *cmd, cli_http *h, int argc, char **argv, int *i, int *bad)
{
    const char *v;
    uint64_t t;
    if ((v = cli_opt(argc, argv, i, "--http-allow", bad))) {
        if (h->nallow == CLI_MANIFEST_LIST || !*v) {
            cli_error(cmd, 0, "--http-allow: at most %d non-empty hosts", CLI_MANIFEST_LIST);
            return -1;
        }
        h->allow[h->nallow++] = v;
    } else if ((v = cli_opt(argc, argv, i, "--http-timeout", bad))) {
        if (cli_parse_u64(v, &t) || t == 0 || t > 3600000) {
            cli_error(cmd, 0, "--http-timeout: '%s' is not 1..3600000 milliseconds", v);
            return -1;
        }
        h->timeout_ms = (unsigned)t;
    } else if ((v = cli_opt(argc, argv, i, "--http-body-limit", bad))) {
        if (cli_parse_u64(v, &t) || t == 0 || t > EC_HTTP_BODY_MAX) {
            cli_error(cmd, 0, "--http-body-limit: '%s' is not 1..%u bytes", v, EC_HTTP_BODY_MAX);
            return -1;
        }
        h->body_limit = (size_t)t;
    } else if ((v = cli_opt(argc, argv, i, "--http-max-connections", bad))) {
        if (cli_parse_u64(v, &t) || t == 0 || t > 1000000) {
            cli_error(cmd, 0, "--http-max-connections: '%s' is not 1..1000000", v);
            return -1;
        }
        h->max_connections = (unsigned)t;
    } else if ((v = cli_opt(argc, argv, i, "--stop-grace", bad))) {
        if (cli_parse_u64(v, &t) || t > 3600000) {
            cli_error(cmd, 0, "--stop-grace: '%s' is not 0..3600000 milliseconds", v);
            return -1;
        }
        h->stop_grace_ms = (unsigned)t;
        h->stop_grace_given = 1;
    } else if ((v = cli_opt(argc, argv, i, "--http", bad))) {
        h->listen = v;
    } else {
        return *bad ? -1 : 0;
    }
    return 1;
}

/* A bind that fails once the actor's chain exists would leave a chain that makes the same
 * command, rerun with a free port, refuse. SO_REUSEADDR, as libmicrohttpd's socket has. */
int cli_check_listen(const char *cmd, const char *who, const char *listen)
{
    char addr[128];
    unsigned port;
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
    memset(&v4, 0, sizeof v4);
    memset(&v6, 0, sizeof v6);
    struct sockaddr *sa = NULL;
    socklen_t len = 0;
    if (cli_parse_listen(listen, addr, sizeof addr, &port) == 0) {
        if (inet_pton(AF_INET, addr, &v4.sin_addr) == 1) {
            v4.sin_family = AF_INET;
            v4.sin_port = htons((uint16_t)port);
            sa = (struct sockaddr *)&v4, len = sizeof v4;
        } else if (inet_pton(AF_INET6, addr, &v6.sin6_addr) == 1) {
            v6.sin6_family = AF_INET6;
            v6.sin6_port = htons((uint16_t)port);
            sa = (struct sockaddr *)&v6, len = sizeof v6;
        }
    }
    if (!sa) {
        cli_error(cmd, 0,
                  "actor %s: http: '%s' is not ADDR:PORT with an IP address (e.g. "
                  "127.0.0.1:8080, [::1]:8080)",
                  who, listen);
        return -1;
    }
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0; /* cannot tell here: the server's own bind will say */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = bind(fd, sa, len), e = errno;
    close(fd);
    if (rc != 0) {
        cli_error(cmd, 0, "actor %s: http: cannot listen on %s: %s", who, listen, strerror(e));
        return -1;
    }
    return 0;
}

int cli_http_apply(const char *cmd, const cli_http *h, ec_runtime *rt)
{
    if (!h->nallow && !h->timeout_ms)
        return 0;
    int rc = ec_runtime_http_allow(rt, h->nallow ? h->allow : NULL, h->nallow, h->timeout_ms);
    if (rc)
        cli_error(cmd, 1, "--http-allow");
    return rc;
}

int cli_serve_http(const char *cmd, cli_http *h, ec_actor *a, const char *listen)
{
    char addr[128];
    ec_actor_http_options o = EC_ACTOR_HTTP_OPTIONS_INIT;
    if (cli_parse_listen(listen, addr, sizeof addr, &o.port)) {
        cli_error(cmd, 0, "actor %s: http: '%s' is not ADDR:PORT (e.g. 127.0.0.1:8080)",
                  ec_actor_id(a), listen);
        return EC_EINVAL;
    }
    o.bind_address = addr;
    o.timeout_ms = h->timeout_ms;
    o.body_limit = h->body_limit;
    o.max_connections = h->max_connections;
    unsigned port = 0;
    int rc = ec_actor_serve_http(a, &o, &port);
    if (rc) {
        cli_error(cmd, 1, "cannot serve HTTP");
        return rc;
    }
    int v6 = strchr(addr, ':') != NULL;
    cli_printf_msg(stderr, "evchain %s: actor %s serves HTTP on http://%s%s%s:%u/\n", cmd,
                   ec_actor_id(a), v6 ? "[" : "", addr, v6 ? "]" : "", port);
    h->serving = 1;
    return 0;
}

static volatile sig_atomic_t stop_flag;
/* Written by the signal handler (non-blocking: a full pipe loses nothing, one byte is
 * enough): 's' a stop, 'd' done (cli_serve). Read by the stopper thread. */
static volatile int stop_pipe_w = -1;
/* The runtime a second signal interrupts at once; NULL outside cli_serve. */
static _Atomic(ec_runtime *) signal_rt;

static void on_signal(int sig)
{
    (void)sig;
    int e = errno;
    if (stop_flag) {
        ec_runtime *rt = atomic_load(&signal_rt);
        if (rt)
            ec_runtime_interrupt(rt); /* one atomic store: async-signal-safe */
    }
    stop_flag = 1;
    int fd = stop_pipe_w;
    if (fd >= 0 && write(fd, "s", 1) < 0) {
        /* full: a stop is already waiting to be read */
    }
    errno = e;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The stopper: from the first stop ('s'), waits the grace, then interrupts the calls still
 * running (the main thread may be inside one, delivering a message; an HTTP worker inside
 * another, which ec_runtime_stop_http waits for). Ends at 'd'. */
typedef struct stopper {
    const char *cmd;
    ec_runtime *rt;
    unsigned grace_ms;
    int rfd;
} stopper;

static void *stopper_main(void *p)
{
    stopper *s = p;
    int armed = 0, done = 0, interrupted = 0;
    uint64_t deadline = 0;
    while (!done) {
        int timeout = -1;
        if (armed && !interrupted) {
            uint64_t now = mono_ms();
            timeout = deadline > now ? (int)(deadline - now) : 0;
        }
        struct pollfd pf = {s->rfd, POLLIN, 0};
        int n = poll(&pf, 1, timeout);
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0) {
            char buf[64];
            ssize_t k = read(s->rfd, buf, sizeof buf);
            for (ssize_t j = 0; j < k; j++) {
                if (buf[j] == 'd')
                    done = 1;
                if (!armed) {
                    armed = 1;
                    deadline = mono_ms() + s->grace_ms;
                }
            }
        }
        if (!done && armed && !interrupted && mono_ms() >= deadline) {
            interrupted = 1;
            if (!ec_runtime_interrupted(s->rt))
                cli_printf_msg(stderr,
                               "evchain %s: stopping: calls still running after %u ms are "
                               "interrupted (--stop-grace)\n",
                               s->cmd, s->grace_ms);
            ec_runtime_interrupt(s->rt);
        }
    }
    return NULL;
}

int cli_serve_claim(const char *cmd, const char *data_dir)
{
    char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    if (run_socket_path(sock_path, sizeof sock_path, data_dir)) {
        cli_error(cmd, 0, "%s: data directory path too long for a control socket", data_dir);
        return -1;
    }
    if (mkdir(data_dir, 0755) != 0 && errno != EEXIST) {
        cli_error(cmd, 0, "%s: %s", data_dir, strerror(errno));
        return -1;
    }
    int fd = run_listen(cmd, sock_path);
    return fd < 0 ? -1 : fd;
}

void cli_serve_release(int fd, const char *data_dir)
{
    char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    if (fd < 0)
        return;
    close(fd);
    if (run_socket_path(sock_path, sizeof sock_path, data_dir) == 0)
        unlink(sock_path);
}

/* Requests are handled one at a time between deliveries: the runtime is single-threaded, so a
 * message from outside is queued like any other. */
int cli_serve(const char *cmd, ec_runtime *rt, const char *data_dir, int fd, const cli_http *h)
{
    int http_serving = h->serving;
    char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    if (run_socket_path(sock_path, sizeof sock_path, data_dir)) {
        close(fd); /* not reached: cli_serve_claim checked it */
        return EC_EINVAL;
    }
    cli_printf_msg(stderr, "evchain %s: serving on %s (evchain send --data-dir %s ...)\n", cmd,
                   sock_path, data_dir);
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) != 0) {
        cli_error(cmd, 0, "pipe: %s", strerror(errno));
        close(fd);
        unlink(sock_path);
        return EC_EIO;
    }
    stopper st = {cmd, rt, h->stop_grace_given ? h->stop_grace_ms : CLI_STOP_GRACE_MS, pfd[0]};
    pthread_t stopper_thread;
    if (pthread_create(&stopper_thread, NULL, stopper_main, &st) != 0) {
        cli_error(cmd, 0, "cannot start the stopper thread");
        close(pfd[0]);
        close(pfd[1]);
        close(fd);
        unlink(sock_path);
        return EC_EIO;
    }
    stop_pipe_w = pfd[1];
    atomic_store(&signal_rt, rt);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: poll returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int stop = 0;
    /* HTTP handlers run on the servers' threads, recording under the runtime lock (their
     * actors' wasm runs without it); this loop takes it for each step, and wakes often
     * enough to deliver the messages they queue. */
    int cap_ms = http_serving ? 20 : 1000;
    while (!stop && !stop_flag) {
        ec_runtime_lock(rt);
        ec_runtime_run(rt, 0, NULL);
        int64_t wake = ec_runtime_next_wake_ms(rt);
        ec_runtime_unlock(rt);
        struct pollfd p = {fd, POLLIN, 0};
        int n = poll(&p, 1, wake < 0 || wake > cap_ms ? cap_ms : (int)wake);
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0) {
            /* A signal may have come while the runtime ran: stop_flag is read again here. */
            ec_runtime_lock(rt);
            run_serve_one(rt, fd, &stop, stop_flag || ec_runtime_interrupted(rt));
            ec_runtime_unlock(rt);
        }
    }
    /* Clients already connected are told the runtime is stopping, not left without an
     * answer (one connecting from now on finds the socket gone). */
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0)
        while (run_serve_one(rt, fd, &stop, 1) == 0) {
        }
    close(fd);
    unlink(sock_path);
    /* The grace starts now if it has not (a stop request, or the socket failed). */
    if (write(pfd[1], "s", 1) < 0) {
        /* full: a stop is waiting already */
    }
    /* What was accepted ("ok") is delivered before the actors stop; timers are not waited.
     * The servers' workers are waited for here, while the stopper can still interrupt them:
     * after it has ended, nothing could. */
    ec_runtime_lock(rt);
    ec_runtime_run(rt, 0, NULL);
    ec_runtime_unlock(rt);
    ec_runtime_stop_http(rt);
    atomic_store(&signal_rt, NULL);
    stop_pipe_w = -1;
    while (write(pfd[1], "d", 1) < 0 && errno == EAGAIN) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL); /* the pipe is full of stops: the stopper drains it */
    }
    pthread_join(stopper_thread, NULL);
    close(pfd[0]);
    close(pfd[1]);
    return 0;
}
