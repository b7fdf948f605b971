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
    if ((v = cli_opt_each(argc, argv, i, "--http-allow", bad))) {
        if (h->nallow == CLI_MANIFEST_LIST) {
            cli_error(cmd, 0, "--http-allow: at most %d hosts", CLI_MANIFEST_LIST);
            return -1;
        }
        /* An entry that could never match (a URL, a bad port, a stray space) is a mistake
         * to report now, not a host the actors are silently denied. */
        if (ec_http_allow_check(v)) {
            cli_error(cmd, 1, "--http-allow");
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

/* Set by the first stop: SIGINT, SIGTERM (the handler) or a stop request (the control
 * thread). Lock-free, so the handler may store it. */
static atomic_int stop_flag;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "stop_flag is stored from a signal handler");
/* Written by the signal handler (non-blocking: a full pipe loses nothing, one byte is
 * enough): 's' a stop, 'd' done (cli_serve). Read by the stopper thread. */
static volatile int stop_pipe_w = -1;
/* Wakes the thread serving the runtime from its poll: a signal may be delivered to any
 * thread (the HTTP servers' too), where it interrupts no poll of that one. */
static volatile int wake_pipe_w = -1;
/* The runtime a second signal interrupts at once; NULL outside cli_serve. */
static _Atomic(ec_runtime *) signal_rt;

static void wake(int fd, char c)
{
    if (fd >= 0 && write(fd, &c, 1) < 0) {
        /* full: a byte is waiting already, which is all it takes */
    }
}

static void on_signal(int sig)
{
    (void)sig;
    int e = errno;
    if (atomic_load(&stop_flag)) {
        ec_runtime *rt = atomic_load(&signal_rt);
        if (rt)
            ec_runtime_interrupt(rt); /* one atomic store: async-signal-safe */
    }
    atomic_store(&stop_flag, 1);
    wake(stop_pipe_w, 's');
    wake(wake_pipe_w, 'w');
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

/* The control thread: it answers `evchain send --stop` at once, whatever the thread driving
 * the runtime is doing (it may be inside a call that runs for minutes): the stop is made as
 * SIGTERM makes it (stop_flag, the stopper's grace). A send is handed to the driving thread,
 * which answers it between deliveries as before (its "ok" means queued), or, once stopping
 * or with CONTROL_PENDING sends waiting already, refused here. It touches no runtime
 * state but the interrupted flag, and never takes the runtime lock. */
#define CONTROL_PENDING 64

typedef struct control {
    const char *cmd;
    ec_runtime *rt;
    int listen_fd;
    int quit_r;                       /* readable: end (cli_serve) */
    int wake_w;                       /* to the driving thread: a send is pending or a stop came */
    int stop_w;                       /* to the stopper: a stop came, the grace starts */
    pthread_mutex_t m;                /* guards pending/npending */
    run_req pending[CONTROL_PENDING]; /* in order of arrival */
    size_t npending;
} control;

static void *control_main(void *p)
{
    control *c = p;
    for (;;) {
        struct pollfd pf[2] = {{c->listen_fd, POLLIN, 0}, {c->quit_r, POLLIN, 0}};
        int n = poll(pf, 2, -1);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        if (pf[1].revents)
            break;
        if (!pf[0].revents)
            continue;
        run_req r;
        int got = run_accept(c->listen_fd, &r);
        if (got < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                errno != ECONNABORTED) {
                struct timespec ts = {0, 10000000}; /* out of descriptors: not a busy loop */
                nanosleep(&ts, NULL);
            }
            continue;
        }
        if (got == 0)
            continue;
        if (r.stop) {
            if (!atomic_exchange(&stop_flag, 1))
                wake(c->stop_w, 's'); /* the grace starts now */
            wake(c->wake_w, 'w');
            run_answer_stop(&r);
            continue;
        }
        int stopping = atomic_load(&stop_flag) || ec_runtime_interrupted(c->rt), full = 0;
        pthread_mutex_lock(&c->m);
        if (!stopping && !(full = c->npending == CONTROL_PENDING))
            c->pending[c->npending++] = r;
        pthread_mutex_unlock(&c->m);
        if (stopping)
            run_refuse_send(&r, "the runtime is stopping (message not delivered)");
        else if (full) {
            char why[128];
            snprintf(why, sizeof why,
                     "the runtime is busy: %d sends wait for it already (message not delivered)",
                     CONTROL_PENDING);
            run_refuse_send(&r, why);
        } else
            wake(c->wake_w, 'w');
    }
    return NULL;
}

/* The sends handed over by the control thread, answered in order of arrival. */
static void answer_pending(control *c, int stopping)
{
    for (;;) {
        pthread_mutex_lock(&c->m);
        run_req r = {-1, 0, 0};
        if (c->npending) {
            r = c->pending[0];
            memmove(c->pending, c->pending + 1, --c->npending * sizeof *c->pending);
        }
        pthread_mutex_unlock(&c->m);
        if (r.fd < 0)
            return;
        run_answer_send(c->rt, &r,
                        stopping || atomic_load(&stop_flag) || ec_runtime_interrupted(c->rt));
    }
}

/* Starts a thread with SIGINT and SIGTERM blocked in it: they go to the other threads, the
 * one driving the runtime first. */
static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* Requests are answered by the control thread; the messages they carry are queued by this
 * one between deliveries: the runtime is driven by one thread, so a message from outside is
 * queued like any other. */
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
    /* pfd: to the stopper; wfd: wakes this thread; qfd: ends the control thread. */
    int pfd[2] = {-1, -1}, wfd[2] = {-1, -1}, qfd[2] = {-1, -1};
    if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) != 0 || pipe2(wfd, O_CLOEXEC | O_NONBLOCK) != 0 ||
        pipe2(qfd, O_CLOEXEC | O_NONBLOCK) != 0) {
        cli_error(cmd, 0, "pipe: %s", strerror(errno));
        for (int k = 0; k < 2; k++) {
            if (pfd[k] >= 0)
                close(pfd[k]);
            if (wfd[k] >= 0)
                close(wfd[k]);
            if (qfd[k] >= 0)
                close(qfd[k]);
        }
        close(fd);
        unlink(sock_path);
        return EC_EIO;
    }
    stop_pipe_w = pfd[1];
    wake_pipe_w = wfd[1];
    stopper st = {cmd, rt, h->stop_grace_given ? h->stop_grace_ms : CLI_STOP_GRACE_MS, pfd[0]};
    control ctl = {.cmd = cmd,
                   .rt = rt,
                   .listen_fd = fd,
                   .quit_r = qfd[0],
                   .wake_w = wfd[1],
                   .stop_w = pfd[1]};
    pthread_mutex_init(&ctl.m, NULL);
    pthread_t stopper_thread, control_thread;
    int started = 0;
    if (start_thread(&stopper_thread, stopper_main, &st) == 0) {
        started = 1;
        if (start_thread(&control_thread, control_main, &ctl) == 0)
            started = 2;
    }
    if (started < 2) {
        cli_error(cmd, 0, "cannot start the %s thread", started ? "control" : "stopper");
        if (started) {
            wake(pfd[1], 'd');
            pthread_join(stopper_thread, NULL);
        }
        stop_pipe_w = wake_pipe_w = -1;
        pthread_mutex_destroy(&ctl.m);
        for (int k = 0; k < 2; k++)
            close(pfd[k]), close(wfd[k]), close(qfd[k]);
        close(fd);
        unlink(sock_path);
        return EC_EIO;
    }
    atomic_store(&signal_rt, rt);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: poll returns EINTR */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* HTTP handlers run on the servers' threads, recording under the runtime lock (their
     * actors' wasm runs without it); this loop takes it for each step, and wakes often
     * enough to deliver the messages they queue. */
    int cap_ms = http_serving ? 20 : 1000;
    while (!atomic_load(&stop_flag)) {
        ec_runtime_lock(rt);
        ec_runtime_run(rt, 0, NULL);
        int64_t next = ec_runtime_next_wake_ms(rt);
        ec_runtime_unlock(rt);
        struct pollfd p = {wfd[0], POLLIN, 0};
        int n = poll(&p, 1, next < 0 || next > cap_ms ? cap_ms : (int)next);
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0) {
            char buf[64];
            while (read(wfd[0], buf, sizeof buf) > 0) {
            }
        }
        /* A stop may have come while the runtime ran: stop_flag is read again there. */
        answer_pending(&ctl, 0);
    }
    /* Requests are no longer taken: the control thread ends, the socket goes (a client
     * connecting from now on finds none), and the clients already connected are told the
     * runtime is stopping, not left without an answer. */
    wake(qfd[1], 'q');
    pthread_join(control_thread, NULL);
    unlink(sock_path);
    answer_pending(&ctl, 1);
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == 0) {
        run_req r;
        int got;
        while ((got = run_accept(fd, &r)) >= 0) {
            if (got && r.stop)
                run_answer_stop(&r);
            else if (got)
                run_answer_send(rt, &r, 1);
        }
    }
    close(fd);
    pthread_mutex_destroy(&ctl.m);
    /* The grace starts now if it has not (the socket failed). */
    wake(pfd[1], 's');
    /* What was accepted ("ok") is delivered before the actors stop; timers are not waited.
     * The servers' workers are waited for here, while the stopper can still interrupt them:
     * after it has ended, nothing could. */
    ec_runtime_lock(rt);
    ec_runtime_run(rt, 0, NULL);
    ec_runtime_unlock(rt);
    ec_runtime_stop_http(rt);
    atomic_store(&signal_rt, NULL);
    stop_pipe_w = -1;
    wake_pipe_w = -1;
    while (write(pfd[1], "d", 1) < 0 && errno == EAGAIN) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL); /* the pipe is full of stops: the stopper drains it */
    }
    pthread_join(stopper_thread, NULL);
    for (int k = 0; k < 2; k++)
        close(pfd[k]), close(wfd[k]), close(qfd[k]);
    return 0;
}
