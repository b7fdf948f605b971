/* cli/parse.c: values of options and manifest fields, parsed strictly (the whole string, no
 * sign, no overflow), and the option parsing every command shares (cli_opt, cli_flag,
 * cli_arg_kind, cli_input). Apart from main.c so that a fuzz harness can link it. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_parse_u64(const char *s, uint64_t *out)
{
    /* Digits only: strtoull would also take leading white space, a sign (negating " -1"
     * into 2^64-1) and, with base 0, a 0x prefix. */
    if (!s || !*s)
        return -1;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int cli_parse_max_queue(const char *v, uint32_t *out)
{
    uint64_t n;
    if (cli_parse_u64(v, &n) || n == 0 || n > UINT32_MAX)
        return -1;
    *out = (uint32_t)n;
    return 0;
}

int cli_parse_listen(const char *v, char *addr, size_t cap, unsigned *port)
{
    const char *colon = strrchr(v, ':');
    uint64_t p;
    if (!colon || colon == v || cli_parse_u64(colon + 1, &p) || p > 65535)
        return -1;
    const char *a = v;
    size_t n = (size_t)(colon - v);
    if (a[0] == '[') {
        if (n < 3 || a[n - 1] != ']')
            return -1;
        a++;
        n -= 2;
    }
    if (n >= cap)
        return -1;
    memcpy(addr, a, n);
    addr[n] = 0;
    *port = (unsigned)p;
    return 0;
}

/* ---- the command line being parsed ----
 * One command runs per process, and its options are read in order, each argument once per
 * pass (a command may pass its argv to a second parser: the export/import bundle forms).
 * What must stay true across the commands, kept here once instead of in each loop:
 * "--" ends the options (after it every argument is an operand, even "-x"); a single-valued
 * option given twice is refused (an auditor's `--since A --since B` must not silently
 * check against B only); standard input ('-') is read by one input at most. State is keyed
 * by argv, so a second pass over the same argv sees the same indices and agrees. */
#define SEEN_MAX 64
static struct {
    char **argv;
    int end; /* index of the "--" that ended the options; 0: none (yet) */
    struct {
        const char *name;
        int at;
    } seen[SEEN_MAX];
    int nseen;
    const char *stdin_what; /* what '-' was given for, once */
} P;

static void bind_argv(char **argv)
{
    if (P.argv != argv) {
        memset(&P, 0, sizeof P);
        P.argv = argv;
    }
}

/* 1 when argv[i] comes after the "--" that ends the options. Seeing "--" itself (never an
 * option's value: values are consumed by cli_opt and not looked at again) records it. */
static int after_end(char **argv, int i)
{
    bind_argv(argv);
    if (P.end)
        return i > P.end;
    if (i > 0 && strcmp(argv[i], "--") == 0)
        P.end = i;
    return 0;
}

/* -o and --output are one option (export, import, export --bundle). */
static const char *canonical(const char *name)
{
    return strcmp(name, "--output") == 0 ? "-o" : name;
}

/* 1 (printed) when the option `name` at index at was given before at another index. */
static int given_twice(const char *cmd, const char *name, int at)
{
    const char *c = canonical(name);
    for (int k = 0; k < P.nseen; k++)
        if (strcmp(P.seen[k].name, c) == 0) {
            if (P.seen[k].at == at)
                return 0; /* a second pass over the same argument */
            fprintf(stderr, "evchain %s: option %s given twice\n", cmd, name);
            return 1;
        }
    if (P.nseen < SEEN_MAX) {
        P.seen[P.nseen].name = c;
        P.seen[P.nseen].at = at;
        P.nseen++;
    }
    return 0;
}

static const char *opt(int argc, char **argv, int *i, const char *name, int *bad, int repeatable)
{
    if (*bad || after_end(argv, *i))
        return NULL;
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0 || (a[n] != '=' && a[n] != '\0'))
        return NULL;
    if (!repeatable && given_twice(argv[0], name, *i)) {
        *bad = 1;
        return NULL;
    }
    if (a[n] == '=')
        return a + n + 1;
    if (*i + 1 >= argc) {
        fprintf(stderr, "evchain %s: option %s needs a value\n", argv[0], name);
        *bad = 1;
        return NULL;
    }
    (*i)++;
    return argv[*i];
}

const char *cli_opt(int argc, char **argv, int *i, const char *name, int *bad)
{
    return opt(argc, argv, i, name, bad, 0);
}

const char *cli_opt_each(int argc, char **argv, int *i, const char *name, int *bad)
{
    return opt(argc, argv, i, name, bad, 1);
}

int cli_flag(char **argv, int i, const char *name)
{
    return !after_end(argv, i) && strcmp(argv[i], name) == 0;
}

int cli_arg_kind(char **argv, int i)
{
    if (after_end(argv, i))
        return CLI_OPERAND;
    if (P.end == i)
        return CLI_END;
    const char *a = argv[i];
    return a[0] == '-' && a[1] ? CLI_UNKNOWN : CLI_OPERAND;
}

int cli_operands(const char *cmd, int argc, char **argv, const char **ops, int max)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        int kind = cli_arg_kind(argv, i);
        if (kind == CLI_END)
            continue;
        if (kind == CLI_UNKNOWN) {
            fprintf(stderr, "evchain %s: unknown option '%s' (see `evchain help %s`)\n", cmd,
                    argv[i], cmd);
            return -1;
        }
        if (n == max)
            return max + 1;
        ops[n++] = argv[i];
    }
    return n;
}

int cli_input(const char *cmd, const char *what, const char *path)
{
    if (!path || strcmp(path, "-") != 0)
        return 0;
    if (P.stdin_what) {
        fprintf(stderr,
                "evchain %s: standard input ('-') given twice (%s and %s): it can be read "
                "only once\n",
                cmd, P.stdin_what, what);
        return -1;
    }
    P.stdin_what = what;
    return 0;
}

const char *cli_stdin_what(void)
{
    return P.stdin_what;
}
