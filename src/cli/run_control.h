/* cli/run_control.h: the control socket between `evchain run --serve` and `evchain send`
 * (docs/ABI.md section 6): one framed request per connection, one line of answer. */
#ifndef EVCHAIN_CLI_RUN_CONTROL_H
#define EVCHAIN_CLI_RUN_CONTROL_H

#include <stddef.h>
#include <evchain/evchain.h>

/* <data_dir>/run.sock; -1 when it does not fit a socket address. */
int run_socket_path(char *out, size_t cap, const char *data_dir);
/* Listen on path (refusing when a live runtime already serves it). fd or negative EC_E*, the
 * reason printed. */
int run_listen(const char *cmd, const char *path);
/* Accept and answer one request; *stop set by a stop request. A message is queued only when
 * its client still waits for the answer, and, with `stopping`, not at all (answered with an
 * error): "ok" promises delivery unless the runtime is stopped first. -1 when there was no
 * connection to accept (accept4 failed; errno set), else 0. */
int run_serve_one(ec_runtime *rt, int listen_fd, int *stop, int stopping);
/* Client: send a request, put the one-line answer in answer, waiting at most timeout_ms for
 * it. 0 when the answer is "ok". */
int run_request(const char *path, const void *req, size_t len, unsigned timeout_ms, char *answer,
                size_t cap);

#endif
