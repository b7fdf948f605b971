/* cli/verify_links.c: `evchain verify --links`: after each chain of a group of actors is
 * verified on its own, check the links between them (ec_actor_check_links_opts), and that
 * every message a sender's chain says was accepted is delivered or dropped in its receiver's
 * chain. A runtime data directory stands for all of its actors' chains.
 *
 * Three verdicts, kept apart because they mean different things to an auditor: a broken
 * link (a delivery naming a send that is not there, ...) proves a chain was altered or is
 * not the one the others knew: exit 1. An accepted message that its receiver's chain does
 * not account for is "unaccounted", exit 3: each chain is intact and every link resolves,
 * and the runtime's own record would have shown its delivery or its drop, unless the process
 * ended with the message queued (kill -9, a crash; the receiver's resume or recover then
 * delivers it, replay.c/requeue.c) or still runs, which the chains cannot
 * tell from a receiver's chain whose tail was cut off; so it is reported, each one, for a
 * person to judge (against a signed checkpoint of the receiver's chain), and a script sees a
 * code of its own rather than "ok" (0) or "broken" (1). */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <evchain/replay.h>

#include "cli.h"
#include "verify_links.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append path, or <path>/actors/<id>/chain for each actor when path is a data directory. */
static int expand_one(const char *path, char ***out, int *n, int *cap)
{
    char sub[4200];
    struct stat st;
    snprintf(sub, sizeof sub, "%s/actors", path);
    DIR *d = stat(sub, &st) == 0 && S_ISDIR(st.st_mode) ? opendir(sub) : NULL;
    char **found = NULL;
    int nf = 0;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            char chain[4500];
            if (de->d_name[0] == '.')
                continue;
            snprintf(chain, sizeof chain, "%s/%s/chain", sub, de->d_name);
            if (stat(chain, &st) != 0 || !S_ISDIR(st.st_mode))
                continue;
            char **q = realloc(found, (size_t)(nf + 1) * sizeof *q);
            if (!q || !(q[nf] = strdup(chain))) {
                free(q ? q : found);
                closedir(d);
                return -1;
            }
            found = q;
            nf++;
        }
        closedir(d);
        if (nf)
            qsort(found, (size_t)nf, sizeof *found, cmp_str);
    } else {
        found = malloc(sizeof *found);
        if (!found || !(found[0] = strdup(path))) {
            free(found);
            return -1;
        }
        nf = 1;
    }
    for (int k = 0; k < nf; k++) {
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            char **q = realloc(*out, (size_t)*cap * sizeof *q);
            if (!q) {
                for (; k < nf; k++)
                    free(found[k]);
                free(found);
                return -1;
            }
            *out = q;
        }
        (*out)[(*n)++] = found[k];
    }
    free(found);
    return 0;
}

int cli_links_expand(char **paths, int npaths, char ***out, int *nout)
{
    int cap = 0;
    *out = NULL;
    *nout = 0;
    for (int k = 0; k < npaths; k++)
        if (strcmp(paths[k], "-") == 0) {
            cli_links_free(*out, *nout);
            cli_error("verify", 0, "--links reads each chain twice: not from standard input");
            return -1;
        } else if (expand_one(paths[k], out, nout, &cap) != 0) {
            cli_links_free(*out, *nout);
            cli_error("verify", 0, "out of memory");
            return -1;
        }
    return 0;
}

void cli_links_free(char **paths, int n)
{
    for (int k = 0; k < n; k++)
        free(paths[k]);
    free(paths);
}

struct unaccounted_ctx {
    char **paths;
    uint64_t n;
};

static void on_unaccounted(void *ctx, const ec_links_unaccounted *u)
{
    struct unaccounted_ctx *c = ctx;
    c->n++;
    cli_printf_msg(stdout,
                   "links: unaccounted: %s event %llu: its message to %s was accepted "
                   "(message/send, ret 0) and is neither delivered nor dropped in %s's chain "
                   "(%s)\n",
                   u->sender_id, (unsigned long long)u->seq, u->receiver_id, u->receiver_id,
                   c->paths[u->sender]);
}

int cli_links_check(char **paths, int n)
{
    ec_chain **chains = calloc((size_t)(n ? n : 1), sizeof *chains);
    if (!chains) {
        cli_error("verify", 0, "out of memory");
        return EXIT_UNUSABLE;
    }
    int code = EXIT_VALID;
    for (int k = 0; k < n && code == EXIT_VALID; k++) {
        ec_open_options oo = EC_OPEN_OPTIONS_INIT;
        if ((cli_is_bundle(paths[k]) ? ec_bundle_open_chain(&chains[k], paths[k], NULL, 0)
                                     : ec_chain_open_path(&chains[k], paths[k], &oo)) != 0) {
            cli_error("verify", 1, "--links: cannot read %s", paths[k]);
            code = EXIT_UNUSABLE;
        }
    }
    if (code == EXIT_VALID) {
        ec_links_result lr;
        struct unaccounted_ctx uc = {paths, 0};
        ec_links_options lo = EC_LINKS_OPTIONS_INIT;
        lo.unaccounted = on_unaccounted;
        lo.ctx = &uc;
        int rc = ec_actor_check_links_opts(chains, (size_t)n, &lo, &lr);
        if (rc == 0) {
            printf("links: %s%llu link%s between %d chain%s", uc.n ? "" : "ok, ",
                   (unsigned long long)lr.checked, lr.checked == 1 ? "" : "s", n,
                   n == 1 ? "" : "s");
            if (lr.unresolved)
                printf(", %llu to actors outside the group (not checked)",
                       (unsigned long long)lr.unresolved);
            if (uc.n) {
                printf("; %llu accepted message%s unaccounted for (above): the run may have "
                       "been killed (or crashed) with %s queued (its receiver's `evchain "
                       "resume` delivers what was queued), or still be running, or the "
                       "receiver's chain was cut after %s (evchain help verify)",
                       (unsigned long long)uc.n, uc.n == 1 ? "" : "s", uc.n == 1 ? "it" : "them",
                       uc.n == 1 ? "its delivery" : "their deliveries");
                code = EXIT_UNDELIVERED;
            }
            printf("\n");
        } else if (rc == EC_EVERIFY) {
            cli_printf_msg(stdout, "links: %s (%s)\n", lr.reason, paths[lr.actor]);
            code = EXIT_INVALID;
        } else {
            cli_error("verify", 1, "--links");
            code = EXIT_UNUSABLE;
        }
    }
    for (int k = 0; k < n; k++)
        ec_chain_free(chains[k]);
    free(chains);
    return code;
}
