/* actor/http.h: private helpers shared by the HTTP codec, server and client (the public
 * interface is include/evchain/http.h). */
#ifndef EVCHAIN_ACTOR_HTTP_H
#define EVCHAIN_ACTOR_HTTP_H

#include <stddef.h>
#include <evchain/http.h>

/* Payload header: magic "evhttp", format version, kind (docs/FORMAT.md section 7). */
#define EC_HTTP_MAGIC      "evhttp"
#define EC_HTTP_MAGIC_LEN  6
#define EC_HTTP_VERSION    1
#define EC_HTTP_HEADER_LEN 8

/* Field checks of the format, used by the encoder, the decoder and the reply builder so that
 * all three accept exactly the same set. 1 when valid. */
int ec_http_token_ok(const char *s, size_t n, size_t min, size_t max); /* method, name */
int ec_http_value_ok(const char *s, size_t n);                         /* header value */
int ec_http_target_ok(const char *s, size_t n);                        /* request-target */

/* The stack of the server's worker, the thread that runs handlers and so calls into wasm. Set
 * explicitly (not the default thread stack, which is 2 MiB under `ulimit -s unlimited`):
 * module.c's call-depth check (module_stack_check) counts on at least this much. */
#define EC_HTTP_WORKER_STACK (8u << 20)

#endif
