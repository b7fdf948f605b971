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
/* Accept and answer one request; *stop set by a stop request. */
void run_serve_one(ec_runtime *rt, int listen_fd, int *stop);
/* Client: send a request, put the one-line answer in answer. 0 when the answer is "ok". */
int run_request(const char *path, const void *req, size_t len, char *answer, size_t cap);

#endif
