/* cli/run_control.c: the control socket of `evchain run --serve`: a unix stream socket in
 * the data directory (mode 0600), one request per connection framed by a 4-byte big-endian
 * length, answered by one line ("ok" or "error: ..."). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "run_control.h"

#define REQ_MAX ((2u << 20) + 256u) /* a message of the runtime's default limit, and more */

int run_socket_path(char *out, size_t cap, const char *data_dir)
{
    int n = snprintf(out, cap, "%s/run.sock", data_dir);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static int connect_to(const char *path)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

int run_listen(const char *cmd, const char *path)
{
    int live = connect_to(path);
    if (live >= 0) {
        close(live);
        cli_error(cmd, 0, "%s: another runtime is serving this data directory (nothing written)",
                  path);
        return EC_ELOCKED;
    }
    unlink(path); /* a stale socket from a runtime that died */
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        cli_error(cmd, 0, "socket: %s", strerror(errno));
        return EC_EIO;
    }
    mode_t old = umask(077);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc != 0 || listen(fd, 16) != 0) {
        cli_error(cmd, 0, "%s: %s", path, strerror(errno));
        close(fd);
        return EC_EIO;
    }
    return fd;
}

static int read_full(int fd, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n) {
        ssize_t k = read(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void write_full(int fd, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL); /* a peer gone is an error, not SIGPIPE */
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return;
        p += k;
        n -= (size_t)k;
    }
}

static void answer(int fd, const char *fmt, const char *detail)
{
    char line[512];
    int n = snprintf(line, sizeof line, fmt, detail ? detail : "");
    if (n > 0)
        write_full(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Whether the client of fd, whose request was read in full, is still waiting for the
 * answer: `evchain send` closes its end only once it gives up (its timeout), so an end of
 * file now means nobody will read the answer. */
static int client_waiting(int fd)
{
    char c;
    ssize_t k = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return k > 0 || (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
}

int run_accept(int listen_fd, run_req *out)
{
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return -1;
    /* A client that connects and says nothing must not stall the actors. */
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    uint8_t hdr[4], kind[5];
    if (read_full(fd, hdr, 4) != 0) {
        close(fd);
        return 0;
    }
    uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
    if (len > REQ_MAX || len < 5) {
        answer(fd, "error: request of %s bytes refused\n", len > REQ_MAX ? "too many" : "too few");
        close(fd);
        return 0;
    }
    if (read_full(fd, kind, 5) != 0) {
        close(fd);
        return 0;
    }
    int stop = len == 5 && memcmp(kind, "stop", 5) == 0;
    if (!stop && memcmp(kind, "send", 5) != 0) {
        /* The rest is read before the answer: a socket closed with unread data resets. */
        run_req r = {fd, len, 0};
        run_refuse_send(&r, "unknown request");
        return 0;
    }
    out->fd = fd;
    out->len = len;
    out->stop = stop;
    return 1;
}

void run_answer_stop(run_req *r)
{
    answer(r->fd, "ok%s\n", "");
    close(r->fd);
    r->fd = -1;
}

void run_refuse_send(run_req *r, const char *why)
{
    uint8_t buf[4096];
    size_t left = r->len - 5;
    while (left) {
        size_t k = left < sizeof buf ? left : sizeof buf;
        if (read_full(r->fd, buf, k) != 0)
            break;
        left -= k;
    }
    if (!left)
        answer(r->fd, "error: %s\n", why);
    close(r->fd);
    r->fd = -1;
}

void run_answer_send(ec_runtime *rt, run_req *r, int stopping)
{
    if (stopping) {
        /* Accepted now, it might never be delivered: the actors are being stopped (the
         * calls running may be interrupted, and then nothing more is delivered). */
        run_refuse_send(r, "the runtime is stopping (message not delivered)");
        return;
    }
    static uint8_t req[REQ_MAX]; /* only ever used by the thread that drives the runtime */
    size_t len = r->len - 5;
    int fd = r->fd;
    r->fd = -1;
    if (read_full(fd, req, len) != 0) {
        close(fd);
        return;
    }
    const char *id = (const char *)req;
    const uint8_t *nul = memchr(id, 0, len);
    if (!nul) {
        answer(fd, "error: malformed send request%s\n", "");
    } else if (!client_waiting(fd)) {
        /* The client gave up (evchain send said "no answer") before this request was
         * read: it was told nothing was done, so nothing is (a retry must not duplicate). */
    } else {
        size_t body_off = (size_t)(nul - req) + 1;
        char why[400] = "";
        ec_runtime_lock(rt);
        if (ec_runtime_send(rt, id, req + body_off, len - body_off) != 0)
            snprintf(why, sizeof why, "%s",
                     ec_error_last() ? ec_error_last()->message : "send failed");
        ec_runtime_unlock(rt); /* not held while the answer is written (2 s at most) */
        if (why[0])
            answer(fd, "error: %s\n", why);
        else
            answer(fd, "ok%s\n", "");
    }
    close(fd);
}

int run_request(const char *path, const void *req, size_t len, unsigned timeout_ms, char *ans,
                size_t cap)
{
    int fd = connect_to(path);
    if (fd < 0) {
        snprintf(ans, cap, "no runtime is serving %s (%s): start one with evchain run --serve",
                 path, strerror(errno));
        return -1;
    }
    /* The runtime answers a send between deliveries (a long call into an actor delays it; a
     * stop is answered at once), and a dead one must not hang the client. */
    struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    uint8_t hdr[4] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16), (uint8_t)(len >> 8),
                      (uint8_t)len};
    write_full(fd, hdr, 4);
    write_full(fd, req, len);
    size_t got = 0;
    while (got + 1 < cap) {
        ssize_t k = read(fd, ans + got, cap - 1 - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    ans[got] = 0;
    char *nl = strchr(ans, '\n');
    if (nl)
        *nl = 0;
    if (got == 0)
        snprintf(ans, cap,
                 "no answer from the runtime at %s within %u ms (a message sent may or may not "
                 "be delivered: see docs/ABI.md section 6)",
                 path, timeout_ms);
    return strcmp(ans, "ok") == 0 ? 0 : -1;
}
