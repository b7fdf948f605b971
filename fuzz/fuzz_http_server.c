/* fuzz/fuzz_http_server.c: libFuzzer harness for the HTTP server (src/actor/http_server.c
 * on libmicrohttpd), fed each input as the raw bytes of one client connection over loopback.
 * Checks, beyond "no crash": whatever the server answers starts with an HTTP status line;
 * every request handed to the handler and
 * every refusal reported is a message the payload format can encode, so that the runtime
 * can always record it. One server for the whole run. */
#include <arpa/inet.h>
#include <poll.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <evchain/http.h>

static ec_http_server *server; /* runs until the process exits */
static unsigned port;

static void must_encode(const ec_http_msg *m)
{
    uint8_t *enc = NULL;
    size_t n = 0;
    if (ec_http_encode_alloc(m, &enc, &n) != 0) {
        fprintf(stderr, "fuzz_http_server: a message the format cannot hold\n");
        abort();
    }
    free(enc);
}

/* Echoes; /hold holds its reply for the releaser, /trap fails like a trapped actor. */
static int handler(void *ctx, const ec_http_msg *req, ec_http_reply *reply)
{
    (void)ctx;
    must_encode(req);
    if (req->target_len >= 5 && memcmp(req->target, "/trap", 5) == 0)
        return EC_ETRAP;
    if (req->target_len >= 5 && memcmp(req->target, "/hold", 5) == 0)
        ec_http_reply_hold(reply, 1);
    ec_http_reply_header(reply, "Content-Type", "application/octet-stream");
    return ec_http_reply_body(reply, req->body, req->body_len);
}

/* Holds every refusal it may, as the runtime does, so that they go through the releaser. */
static int on_refusal(void *ctx, const ec_http_msg *refusal, uint64_t *hold)
{
    (void)ctx;
    must_encode(refusal);
    if (!hold)
        return 0;
    *hold = 2;
    return 1;
}

static int release(void *ctx, uint64_t token)
{
    (void)ctx;
    (void)token;
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ec_http_server_options o = EC_HTTP_SERVER_OPTIONS_INIT;
    o.body_limit = 1000; /* larger bodies take the 413 paths: drained, or answered at once */
    o.timeout_ms = 2000;
    o.on_refusal = on_refusal;
    o.release = release;
    if (ec_http_server_start(&server, &o, handler, NULL) != 0) {
        fprintf(stderr, "fuzz_http_server: cannot start the server\n");
        abort();
    }
    port = ec_http_server_port(server);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {5, 0}; /* a send the server does not read: given up */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return 0;
    }
    /* The server may answer and close before it has read everything: a failed send is fine. */
    size_t off = 0;
    while (off < size) {
        ssize_t n = send(fd, data + off, size - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    shutdown(fd, SHUT_WR);
    /* Read until the server closes, or until it has been quiet for 10 ms: libmicrohttpd
     * 0.9.75 keeps a connection whose request came only in part until the idle timeout,
     * the client's half-close notwithstanding (a plain libmicrohttpd server does the same),
     * so a missing close is not a hang of ours. */
    char head[16];
    size_t got = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 10) <= 0)
            break;
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            break; /* closed, or reset by the server: both allowed */
        if (got < sizeof head) {
            size_t k = (size_t)n < sizeof head - got ? (size_t)n : sizeof head - got;
            memcpy(head + got, buf, k);
            got += k;
        }
    }
    close(fd);
    if (got > 0 && (got < 8 || memcmp(head, "HTTP/1.", 7) != 0)) {
        fprintf(stderr, "fuzz_http_server: an answer that is not HTTP: %.*s\n", (int)got, head);
        abort();
    }
    return 0;
}
