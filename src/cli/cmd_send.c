/* cli/cmd_send.c: `evchain send`: give a message to an actor of a runtime started with
 * `evchain run --serve` (through its control socket), or tell that runtime to stop. */
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "cli.h"
#include "run_control.h"

const char help_send[] =
    "send a message to a running actor (evchain run --serve)\n"
    "usage: evchain send [--data-dir DIR] <actor-id> <message>\n"
    "       evchain send [--data-dir DIR] --stop\n"
    "options:\n"
    "  --data-dir DIR   the runtime's data directory (./evchain-data)\n"
    "  --stop           stop the runtime, as SIGTERM does: every actor is\n"
    "                   stopped and its chain closed; answered at once, a call\n"
    "                   still running after --stop-grace is interrupted\n"
    "  --timeout MS     wait at most MS for the answer (default 30000)\n"
    "A message is answered between deliveries: while a call into an actor\n"
    "runs, it waits for the call to end (or is refused if a stop comes first).\n"
    "exit: 0 accepted (\"ok\": queued, and delivered unless the runtime stops\n"
    "first), 2 otherwise; after no answer (the timeout) the message may or\n"
    "may not be delivered (docs/ABI.md section 6)\n";

int cmd_send(int argc, char **argv)
{
    const char *dir = "./evchain-data", *pos[2] = {NULL, NULL};
    int npos = 0, stop = 0, bad = 0;
    uint64_t timeout_ms = 30000;
    for (int i = 1; i < argc && !bad; i++) {
        const char *v;
        if ((v = cli_opt(argc, argv, &i, "--data-dir", &bad)))
            dir = v;
        else if ((v = cli_opt(argc, argv, &i, "--timeout", &bad))) {
            if (cli_parse_u64(v, &timeout_ms) || timeout_ms == 0 || timeout_ms > 3600000) {
                cli_error("send", 0, "--timeout: '%s' is not 1..3600000 milliseconds", v);
                return EXIT_UNUSABLE;
            }
        } else if (cli_flag(argv, i, "--stop"))
            stop = 1;
        else if (!bad && cli_arg_kind(argv, i) == CLI_END) {
            /* "--": the operands follow */
        } else if (!bad && cli_arg_kind(argv, i) == CLI_UNKNOWN && argv[i][1] == '-') {
            /* a single '-' starts a message ("-1"), as it always did */
            cli_error("send", 0, "unknown option %s", argv[i]);
            return EXIT_UNUSABLE;
        } else if (!bad) {
            if (npos == 2) {
                cli_error("send", 0, "unexpected argument '%s'", argv[i]);
                return EXIT_UNUSABLE;
            }
            pos[npos++] = argv[i];
        }
    }
    if (bad)
        return EXIT_UNUSABLE;
    if (stop ? npos != 0 : npos != 2) {
        cli_error("send", 0, "usage: evchain send [--data-dir DIR] <actor-id> <message> | --stop");
        return EXIT_UNUSABLE;
    }
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    if (run_socket_path(path, sizeof path, dir)) {
        cli_error("send", 0, "%s: path too long for a control socket", dir);
        return EXIT_UNUSABLE;
    }
    size_t len;
    char *req;
    if (stop) {
        len = 5;
        req = malloc(len);
        if (req)
            memcpy(req, "stop", 5);
    } else {
        size_t il = strlen(pos[0]), bl = strlen(pos[1]);
        len = 5 + il + 1 + bl;
        req = malloc(len);
        if (req) {
            memcpy(req, "send", 5);
            memcpy(req + 5, pos[0], il + 1);
            memcpy(req + 5 + il + 1, pos[1], bl);
        }
    }
    if (!req) {
        cli_error("send", 0, "out of memory");
        return EXIT_UNUSABLE;
    }
    char ans[512];
    int rc = run_request(path, req, len, (unsigned)timeout_ms, ans, sizeof ans);
    free(req);
    if (rc) {
        cli_error("send", 0, "%s", ans);
        return EXIT_UNUSABLE;
    }
    return EXIT_VALID;
}
