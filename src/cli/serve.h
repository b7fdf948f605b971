/* cli/serve.h: what `run`, `recover` and `resume` share to keep actors live: the HTTP options,
 * the check that an address can be served, serving an actor on it, and the loop that answers
 * `evchain send` until stopped. */
#ifndef EVCHAIN_CLI_SERVE_H
#define EVCHAIN_CLI_SERVE_H

#include <stddef.h>
#include <evchain/evchain.h>

#include "manifest.h"

typedef struct cli_http {
    const char *listen;                   /* --http ADDR:PORT, or NULL */
    const char *allow[CLI_MANIFEST_LIST]; /* --http-allow, repeatable */
    size_t nallow;
    unsigned timeout_ms;      /* --http-timeout; 0: the runtime's default */
    size_t body_limit;        /* --http-body-limit; 0: the server's default */
    unsigned max_connections; /* --http-max-connections; 0: the server's default */
    int serving;              /* an actor of this run serves HTTP */
    unsigned stop_grace_ms;   /* --stop-grace: calls still running then are interrupted */
    int stop_grace_given;     /* otherwise CLI_STOP_GRACE_MS */
} cli_http;

#define CLI_STOP_GRACE_MS 2000

/* The lines of `evchain help` for the five options, to paste into a command's help. */
#define CLI_HTTP_HELP                                                                              \
    "  --http ADDR:PORT     serve HTTP for the actor (its ec_handle_http) on ADDR:PORT\n"          \
    "                       (port 0: any free one); implies --serve\n"                             \
    "  --http-allow HOST    hosts the actors may reach with http_request: host, host:port,\n"      \
    "                       *.domain[:port], IPv4[:port], [v6]:port, v6 (repeatable; a\n"          \
    "                       malformed entry is refused)\n"                                         \
    "  --http-timeout MS    served request deadline, then 504 (default 10000); also the\n"         \
    "                       timeout of the actors' own requests\n"                                 \
    "  --http-body-limit N  request bodies over N bytes get 413 (default 1048576)\n"               \
    "  --http-max-connections N\n"                                                                 \
    "                       open HTTP connections at most (default 1024, bounded by the\n"         \
    "                       descriptor limit); a request head must be complete within 10 s\n"      \
    "  --stop-grace MS      when stopped (--serve: SIGINT, SIGTERM, evchain send --stop),\n"       \
    "                       calls into actors still running after MS are interrupted:\n"           \
    "                       recorded as a trap (default 2000; 0: at once)\n"

/* If argv[*i] is --http, --http-allow, --http-timeout, --http-body-limit,
 * --http-max-connections or --stop-grace, takes its value into h (advancing *i) and returns 1; 0
 * when it is another argument; -1 on a bad value (printed; *bad set for a missing one, as cli_opt
 * does). */
int cli_http_opt(const char *cmd, cli_http *h, int argc, char **argv, int *i, int *bad);

/* Whether `listen` (ADDR:PORT with an IP address) can be served on, before anything is
 * written: a socket is bound to it and closed. 0, or -1 with the reason printed (`who`: the
 * actor it is for). */
int cli_check_listen(const char *cmd, const char *who, const char *listen);

/* The allow-list and timeout of h given to the runtime (when set). 0 or an EC_E code. */
int cli_http_apply(const char *cmd, const cli_http *h, ec_runtime *rt);

/* Serve actor a's ec_handle_http on `listen`, announcing the address on stderr. */
int cli_serve_http(const char *cmd, cli_http *h, ec_actor *a, const char *listen);

/* The control socket <data_dir>/run.sock claimed (bound, listening; the data directory made
 * if need be) before any actor starts or is recovered: a runtime refused because another
 * serves the data directory must not have written a chain. The listening fd, or -1 with the
 * reason printed. Give it to cli_serve, or to cli_serve_release when the command fails first
 * (requests connected meanwhile get no answer). */
int cli_serve_claim(const char *cmd, const char *data_dir);
void cli_serve_release(int fd, const char *data_dir);

/* Answer `evchain send` on fd (from cli_serve_claim, closed and removed here), queueing its
 * messages between deliveries, until a stop request (answered at once, by a thread of its
 * own, even during a long call), SIGINT or SIGTERM; then deliver what was accepted and stop
 * the HTTP servers. Calls into actors still running h's stop grace after the stop (a
 * second signal: at once) are interrupted (ec_runtime_interrupt), so that the command ends in
 * bounded time. */
int cli_serve(const char *cmd, ec_runtime *rt, const char *data_dir, int fd, const cli_http *h);

#endif
