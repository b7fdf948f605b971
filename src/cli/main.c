/* cli/main.c: the evchain command's entry point: git-style dispatch to subcommands found
 * through weak symbols (see cli.h), `evchain help <command>`, and shared helpers. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define DECLARE(name)                                                                              \
    int cmd_##name(int argc, char **argv) __attribute__((weak));                                   \
    extern const char help_##name[] __attribute__((weak));
/* Every subcommand, in the order `evchain help` lists them. */
// clang-format off
#define COMMANDS(X)                                                                                \
    X(verify) X(log) X(show) X(export) X(diff)                                                     \
    X(init) X(append) X(import)                                                                    \
    X(keygen) X(checkpoint) X(prove) X(verify_proof)                                               \
    X(run) X(send) X(replay) X(recover) X(resume)
// clang-format on
COMMANDS(DECLARE)

struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
};

#define ENTRY(name) {#name, NULL, NULL},
static struct command commands[] = {COMMANDS(ENTRY){NULL, NULL, NULL}};

static void bind_commands(void)
{
    size_t i = 0;
#define BIND(name)                                                                                 \
    commands[i].fn = cmd_##name;                                                                   \
    commands[i].help = help_##name;                                                                \
    i++;
    COMMANDS(BIND)
#undef BIND
}

/* The commands whose work is a change to files or to a running runtime, made before they
 * print (see main). */
static int changes_state(const char *name)
{
    static const char *const names[] = {"init", "append", "import",  "keygen", "checkpoint",
                                        "run",  "send",   "recover", "resume", NULL};
    for (size_t i = 0; names[i]; i++)
        if (strcmp(name, names[i]) == 0)
            return 1;
    return 0;
}

/* Command names use '-' on the command line ("verify-proof") and '_' in C. */
static struct command *find(const char *name)
{
    char buf[64];
    size_t n = strlen(name);
    if (n >= sizeof buf)
        return NULL;
    for (size_t k = 0; k <= n; k++)
        buf[k] = name[k] == '-' ? '_' : name[k];
    for (struct command *c = commands; c->name; c++)
        if (c->fn && strcmp(c->name, buf) == 0)
            return c;
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: evchain <command> [args]\n\ncommands:\n");
    for (struct command *c = commands; c->name; c++) {
        if (!c->fn)
            continue;
        const char *h = c->help ? c->help : "";
        const char *nl = strchr(h, '\n');
        char name[64];
        snprintf(name, sizeof name, "%s", c->name);
        for (char *p = name; *p; p++)
            if (*p == '_')
                *p = '-';
        fprintf(f, "  %-14s %.*s\n", name, nl ? (int)(nl - h) : (int)strlen(h), h);
    }
    fprintf(f, "\n`evchain help <command>` for one command's options.\n");
}

int main(int argc, char **argv)
{
    bind_commands();
    if (argc < 2) {
        usage(stderr);
        return EXIT_UNUSABLE;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        if (argc < 3) {
            usage(stdout);
            return 0;
        }
        struct command *c = find(argv[2]);
        if (!c) {
            fputs("evchain: no command '", stderr);
            cli_put_msg(stderr, argv[2]);
            fputs("'\n", stderr);
            return EXIT_UNUSABLE;
        }
        fputs(c->help ? c->help : "(no help)\n", stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("evchain %s\n", EC_VERSION_STRING);
        return 0;
    }
    struct command *c = find(argv[1]);
    if (!c) {
        fputs("evchain: no command '", stderr);
        cli_put_msg(stderr, argv[1]);
        fputs("' (see `evchain help`)\n", stderr);
        return EXIT_UNUSABLE;
    }
    /* Not after "--": there it is an operand (a file named --help). */
    for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(c->help ? c->help : "(no help)\n", stdout);
            return 0;
        }
    int rc = c->fn(argc - 1, argv + 1);
    /* A command that failed (2) has said why already, a failed write of its output too. */
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc != EXIT_UNUSABLE) {
        int err = errno;
        /* A command whose work is a change (an event appended, a chain imported, a key or
         * checkpoint written, a message sent) has made it, durably, before its output: exit 2
         * ("refused, nothing done") would be false, and a script that retries on it would
         * append the event twice. Its code stands; what was lost is said. For the others
         * the output is the work: not written, the command failed. */
        if (changes_state(c->name)) {
            fprintf(stderr,
                    "evchain %s: done (what it changed is kept), but writing its output "
                    "failed: %s\n",
                    argv[1], strerror(err));
            return rc;
        }
        fprintf(stderr, "evchain %s: writing output: %s\n", argv[1], strerror(err));
        return EXIT_UNUSABLE;
    }
    return rc;
}

/* ---- shared helpers ---- */

void cli_error(const char *cmd, int lib_err, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "evchain %s: ", cmd);
    va_start(ap, fmt);
    cli_vprint_msg(stderr, fmt, ap);
    va_end(ap);
    if (lib_err) {
        const ec_error *e = ec_error_last();
        if (e && e->message && *e->message) {
            fputs(": ", stderr);
            cli_put_msg(stderr, e->message);
        }
    }
    fputc('\n', stderr);
}

int cli_exit_code(int err)
{
    return err == EC_EVERIFY ? EXIT_INVALID : EXIT_UNUSABLE;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cli_progress_init(cli_progress *p, const char *label)
{
    p->enabled = isatty(STDERR_FILENO) && isatty(STDOUT_FILENO);
    p->label = label;
    p->start_ns = p->last_ns = mono_ns();
}

void cli_progress_cb(uint64_t done, uint64_t total, void *ctx)
{
    cli_progress *p = ctx;
    if (!p || !p->enabled)
        return;
    uint64_t now = mono_ns();
    if (now - p->last_ns < 100000000u && done != total)
        return; /* at most ten redraws a second */
    p->last_ns = now;
    double secs = (double)(now - p->start_ns) / 1e9;
    double rate = secs > 0 ? (double)done / secs : 0;
    double left = rate > 0 && total > done ? (double)(total - done) / rate : 0;
    int width = 30, fill = total ? (int)((double)done / (double)total * width) : 0;
    char bar[64];
    for (int k = 0; k < width; k++)
        bar[k] = k < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r%s [%s] %llu/%llu events  %.0f ev/s  %.0fs left ", p->label, bar,
            (unsigned long long)done, (unsigned long long)total, rate, left);
}

void cli_progress_done(cli_progress *p)
{
    if (p->enabled)
        fputs("\r\033[K", stderr);
}
