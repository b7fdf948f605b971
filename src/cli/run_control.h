/* cli/run_control.h: the control socket between `evchain run --serve` and `evchain send`
 * (docs/ABI.md section 6): one framed request per connection, one line of answer. */
#ifndef EVCHAIN_CLI_RUN_CONTROL_H
#define EVCHAIN_CLI_RUN_CONTROL_H

#include <stddef.h>
#include <stdint.h>
#include <evchain/evchain.h>

/* <data_dir>/run.sock; -1 when it does not fit a socket address. */
int run_socket_path(char *out, size_t cap, const char *data_dir);
/* Listen on path (refusing when a live runtime already serves it). fd or negative EC_E*, the
 * reason printed. */
int run_listen(const char *cmd, const char *path);
/* A request accepted from the control socket, its length and kind read; the rest of a send
 * (the actor id and the body) is still in the socket. */
typedef struct run_req {
    int fd;
    uint32_t len;
    int stop; /* 1 "stop\0" (the whole request), 0 "send\0" */
} run_req;
/* Accept one connection and read its request's length and kind, each read waiting 2 s at
 * most (a client that says nothing must not hold up the runtime). 1 with *out to answer; 0
 * when the connection was answered and closed here (a bad length, an unknown request) or
 * dropped (silent, gone); -1 when there was no connection to accept (accept4 failed; errno
 * set). */
int run_accept(int listen_fd, run_req *out);
/* Answer a stop request "ok" (closed). */
void run_answer_stop(run_req *r);
/* Read the rest of a send request and answer it (closed): the message is queued
 * (ec_runtime_send, under the runtime lock, taken here) only when its client still waits for
 * the answer and the runtime is not `stopping` (answered with an error): "ok" promises
 * delivery unless the runtime is stopped first. rt is not touched when `stopping`. */
void run_answer_send(ec_runtime *rt, run_req *r, int stopping);
/* Refuse a send request with "error: <why>" (the rest of it read first, so that the client
 * gets the answer rather than a reset), without the runtime (closed). */
void run_refuse_send(run_req *r, const char *why);
/* Client: send a request, put the one-line answer in answer, waiting at most timeout_ms for
 * it. 0 when the answer is "ok". */
int run_request(const char *path, const void *req, size_t len, unsigned timeout_ms, char *answer,
                size_t cap);

#endif
