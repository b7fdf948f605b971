/* cli/own_checkpoint.c: the checkpoints a chain directory keeps of itself (<chain>/checkpoints/,
 * docs/FORMAT.md 5.5). Plain `verify` checks the chain against them: `latest` and, when it is
 * missing or is not the newest numbered file (it should be a second name of it), the newest
 * numbered one too, so that removing or rolling back `latest` alone does not turn "truncated"
 * into "ok". `checkpoint --set-aside` moves the folder aside, whole and kept, for a chain
 * restored on purpose from an older copy, which every writer refuses while they bind it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "own_checkpoint.h"

/* "<20 decimal digits>.checkpoint", the size it names (as proof/checkpoint.c names them). */
static int numbered_name(const char *name, uint64_t *size)
{
    static const char ext[] = ".checkpoint";
    if (strlen(name) != 20 + sizeof ext - 1 || strcmp(name + 20, ext) != 0)
        return -1;
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (name[i] < '0' || name[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    *size = v;
    return 0;
}

#define SUPERSEDED "checkpoints.superseded-"

/* "checkpoints.superseded-<N>", N a decimal of 1 to 9 digits: N, else 0. */
static unsigned long superseded_name(const char *name)
{
    size_t pl = sizeof SUPERSEDED - 1, n = strlen(name);
    if (n <= pl || n > pl + 9 || strncmp(name, SUPERSEDED, pl) != 0)
        return 0;
    unsigned long v = 0;
    for (size_t i = pl; i < n; i++) {
        if (name[i] < '0' || name[i] > '9')
            return 0;
        v = v * 10 + (unsigned long)(name[i] - '0');
    }
    return v;
}

static int cmp_u64_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int cmp_ul(const void *a, const void *b)
{
    unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
    return x < y ? -1 : x > y;
}

/* The checkpoint a note holds, parsed (signatures unchecked): 0, or -1 with why (cap bytes). */
static int parse_note(const char *note, ec_checkpoint *cp, char *why, size_t cap)
{
    /* The text ends at the first blank line: a checkpoint's text lines are never empty. */
    const char *blank = strstr(note, "\n\n");
    if (!blank) {
        snprintf(why, cap, "not a signed note: no blank line before signatures");
        return -1;
    }
    if (ec_checkpoint_parse(cp, note, (size_t)(blank - note) + 1) != 0) {
        const ec_error *e = ec_error_last();
        snprintf(why, cap, "%s", e && e->message ? e->message : "not a checkpoint");
        ec_error_clear();
        return -1;
    }
    return 0;
}

/* The largest N of the chain directory's checkpoints.superseded-N folders (0: none), and
 * their paths, ", "-separated, into o (when given). */
static unsigned long superseded_scan(const char *chain_dir, cli_own *o)
{
    DIR *d = opendir(chain_dir);
    if (!d)
        return 0;
    unsigned long *ns = NULL, top = 0;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        unsigned long v = superseded_name(de->d_name);
        if (!v)
            continue;
        if (v > top)
            top = v;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            unsigned long *nn = realloc(ns, nc * sizeof *ns);
            if (!nn)
                continue; /* only the note's list is shorter */
            ns = nn;
            cap = nc;
        }
        ns[n++] = v;
    }
    closedir(d);
    if (o && n) {
        qsort(ns, n, sizeof *ns, cmp_ul);
        size_t at = 0, room = sizeof o->superseded - 8;
        for (size_t i = 0; i < n; i++) {
            char one[4400];
            int w = snprintf(one, sizeof one, "%s%s/" SUPERSEDED "%lu", i ? ", " : "", chain_dir,
                             ns[i]);
            if (w < 0 || at + (size_t)w > room) {
                memcpy(o->superseded + at, ", ...", 6);
                break;
            }
            memcpy(o->superseded + at, one, (size_t)w + 1);
            at += (size_t)w;
        }
        o->nsuperseded = n;
    }
    free(ns);
    return top;
}

static void release(cli_own *o)
{
    free(o->latest);
    free(o->numbered);
    o->latest = o->numbered = NULL;
    o->latest_len = o->numbered_len = 0;
    o->numbered_size = 0;
    o->ndamaged = 0;
    o->damaged_more = 0;
}

/* One reading of checkpoints/: 0, or -1 (said). *again when it should be read again: a
 * numbered file listed was gone when opened (a writer keeping N removed it), or `latest` is
 * not the newest numbered one (a writer between storing one and linking `latest`). */
static int read_once(const char *cmd, cli_own *o, int *again)
{
    *again = 0;
    char path[4300];
    int absent;
    snprintf(path, sizeof path, "%s/latest", o->dir);
    o->latest = cli_read_stored_file_if(cmd, "own checkpoint", path, EC_NOTE_MAX_LEN,
                                        &o->latest_len, &absent);
    if (!o->latest && !absent)
        return -1;
    DIR *d = opendir(o->dir);
    if (!d) {
        if (errno == ENOENT)
            return 0; /* no checkpoint signed yet, or set aside */
        cli_error(cmd, 0, "own checkpoints %s: %s", o->dir, strerror(errno));
        return -1;
    }
    uint64_t *sizes = NULL, size;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (numbered_name(de->d_name, &size) != 0)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            uint64_t *ns = realloc(sizes, nc * sizeof *sizes);
            if (!ns) {
                closedir(d);
                free(sizes);
                cli_error(cmd, 0, "own checkpoints %s: out of memory", o->dir);
                return -1;
            }
            sizes = ns;
            cap = nc;
        }
        sizes[n++] = size;
    }
    closedir(d);
    qsort(sizes, n, sizeof *sizes, cmp_u64_desc);
    int rc = 0;
    for (size_t i = 0; i < n && !o->numbered; i++) {
        if (o->ndamaged == CLI_OWN_DAMAGED_MAX) {
            o->damaged_more = 1;
            break;
        }
        snprintf(path, sizeof path, "%s/%020llu.checkpoint", o->dir, (unsigned long long)sizes[i]);
        size_t len;
        char *note =
            cli_read_stored_file_if(cmd, "own checkpoint", path, EC_NOTE_MAX_LEN, &len, &absent);
        if (!note && absent) {
            *again = 1;
            continue;
        }
        if (!note) {
            rc = -1;
            break;
        }
        ec_checkpoint cp;
        char *why = o->damaged_why[o->ndamaged];
        size_t wcap = sizeof o->damaged_why[0];
        int good = parse_note(note, &cp, why, wcap) == 0;
        if (good && cp.size != sizes[i]) {
            good = 0;
            snprintf(why, wcap, "its name says %llu events, its text %llu",
                     (unsigned long long)sizes[i], (unsigned long long)cp.size);
        }
        if (good) {
            o->numbered = note;
            o->numbered_len = len;
            o->numbered_size = sizes[i];
            continue;
        }
        free(note);
        o->damaged[o->ndamaged++] = sizes[i];
    }
    free(sizes);
    if (rc == 0 && o->latest && o->numbered &&
        (o->latest_len != o->numbered_len || memcmp(o->latest, o->numbered, o->latest_len) != 0))
        *again = 1;
    return rc;
}

int cli_own_read(const char *cmd, const char *chain_dir, cli_own *o)
{
    memset(o, 0, sizeof *o);
    snprintf(o->dir, sizeof o->dir, "%s/checkpoints", chain_dir);
    superseded_scan(chain_dir, o);
    /* A writer storing a checkpoint renames the numbered file into place, then links
     * `latest` to it, and one keeping N then removes the oldest: read again (twice at most,
     * 20 ms apart) rather than report the moment in between as a disagreement. */
    for (int attempt = 0;; attempt++) {
        int again;
        if (read_once(cmd, o, &again) != 0)
            return EXIT_UNUSABLE;
        if (!again || attempt == 2)
            return EXIT_VALID;
        release(o);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void cli_own_free(cli_own *o)
{
    release(o);
}

int cli_own_any(const cli_own *o)
{
    return o->latest || o->numbered || o->ndamaged;
}

/* The chain against one of its stored checkpoints (the file at path): the exit code; a
 * consistent chain's line into ok, a failure's into fail, *conflict set when the chain is
 * truncated or forked against it (a chain restored from an older copy: the set-aside hint). */
static int check_one(const char *chain_dir, ec_chain *chain, const char *path, const char *note,
                     size_t len, cli_lines *ok, cli_lines *fail, int *conflict)
{
    ec_since_options so = EC_SINCE_OPTIONS_INIT;
    so.chain_verified = 1;
    so.signature_unchecked = 1; /* no key given: consistency only, said in every verdict */
    ec_since_result r;
    int rc = ec_proof_verify_since(chain, note, len, NULL, 0, &so, &r);
    if (rc == 0) {
        cli_lines_add(ok,
                      "%s: extends its own stored checkpoint %s (%llu of %llu events; signature "
                      "not checked; an audit: --since a copy kept outside)",
                      chain_dir, path, (unsigned long long)r.checkpoint.size,
                      (unsigned long long)r.chain_size);
        return EXIT_VALID;
    }
    if (rc == EC_EVERIFY) { /* truncated or forked: r.reason says which */
        cli_lines_add(fail, "%s: its own stored checkpoint %s: %s", chain_dir, path, r.reason);
        *conflict = 1;
        return EXIT_INVALID;
    }
    if (rc == EC_EFORMAT) {
        /* Checkpoints are replaced whole (renamed into place), so a crash leaves none
         * half-written: one that does not parse was damaged or altered since, as the
         * directory holding it was. */
        cli_lines_add(fail,
                      "%s: its own stored checkpoint %s is damaged (%s): the chain could not be "
                      "checked against it",
                      chain_dir, path, r.reason);
        return EXIT_INVALID;
    }
    cli_error("verify", 1, "%s: checking against its own stored checkpoint %s", chain_dir, path);
    return EXIT_UNUSABLE;
}

int cli_own_verify(const char *chain_dir, ec_chain *chain, const cli_own *o, int quiet,
                   cli_lines *ok)
{
    /* Lines of a few KiB each: kept off the stack of a caller that has its own. */
    cli_lines *fail = calloc(1, sizeof *fail), *notes = calloc(1, sizeof *notes);
    ok->n = 0;
    if (!fail || !notes) {
        free(fail);
        free(notes);
        cli_error("verify", 0, "out of memory");
        return EXIT_UNUSABLE;
    }
    int code = EXIT_VALID, conflict = 0, c;
    char lpath[4300], npath[4300];
    snprintf(lpath, sizeof lpath, "%s/latest", o->dir);
    snprintf(npath, sizeof npath, "%s/%020llu.checkpoint", o->dir,
             (unsigned long long)o->numbered_size);
    int same = o->latest && o->numbered && o->latest_len == o->numbered_len &&
               memcmp(o->latest, o->numbered, o->latest_len) == 0;
    if (o->latest && (c = check_one(chain_dir, chain, lpath, o->latest, o->latest_len, ok, fail,
                                    &conflict)) > code)
        code = c;
    if (o->numbered && !same &&
        (c = check_one(chain_dir, chain, npath, o->numbered, o->numbered_len, ok, fail,
                       &conflict)) > code)
        code = c;
    for (size_t i = 0; i < o->ndamaged; i++)
        cli_lines_add(fail,
                      "%s: its own stored checkpoint %s/%020llu.checkpoint is damaged (%s): the "
                      "chain could not be checked against it%s",
                      chain_dir, o->dir, (unsigned long long)o->damaged[i], o->damaged_why[i],
                      o->damaged_more && i + 1 == o->ndamaged
                          ? " (and older numbered checkpoints were not read)"
                          : "");
    if (o->ndamaged && code < EXIT_INVALID)
        code = EXIT_INVALID;
    /* `latest` should be a second name (or a copy) of the newest numbered file. */
    ec_checkpoint lc, nc;
    char why[300];
    if (!o->latest && (o->numbered || o->ndamaged))
        cli_lines_add(notes,
                      "%s: note: %s is missing: checked against the newest numbered checkpoint "
                      "instead",
                      chain_dir, lpath);
    else if (o->latest && o->numbered && !same && !o->ndamaged &&
             parse_note(o->latest, &lc, why, sizeof why) == 0 &&
             parse_note(o->numbered, &nc, why, sizeof why) == 0) {
        if (lc.size == nc.size && memcmp(lc.root, nc.root, EC_MERKLE_HASH_LEN) != 0) {
            cli_lines_add(fail,
                          "%s: its own stored checkpoints disagree: %s and %s both cover %llu "
                          "events, with different roots (latest is a second name of the newest "
                          "numbered checkpoint): one of them was altered or replaced",
                          chain_dir, lpath, npath, (unsigned long long)lc.size);
            if (code < EXIT_INVALID)
                code = EXIT_INVALID;
        } else if (lc.size == nc.size) {
            cli_lines_add(notes,
                          "%s: note: %s and %s are different signed notes of the same %llu "
                          "events (another key or origin; latest should be a second name of the "
                          "newest numbered checkpoint): the chain was checked against both",
                          chain_dir, lpath, npath, (unsigned long long)lc.size);
        } else {
            cli_lines_add(notes,
                          "%s: note: %s (%llu events) is not a second name of the newest "
                          "numbered checkpoint %s (%llu events), as it should be (a crash "
                          "between storing one and linking latest, or files changed by hand): "
                          "the chain was checked against both",
                          chain_dir, lpath, (unsigned long long)lc.size, npath,
                          (unsigned long long)nc.size);
        }
    }
    if (o->nsuperseded)
        cli_lines_add(notes,
                      "%s: note: checkpoints set aside (evchain checkpoint --set-aside), not "
                      "checked against: %s",
                      chain_dir, o->superseded);
    if (conflict) /* last: after the notes that say which checkpoints were read */
        cli_lines_add(notes,
                      "%s: if this chain was restored on purpose from an older copy, `evchain "
                      "checkpoint %s --set-aside` sets its checkpoints aside (kept, not deleted) "
                      "so that it is accepted and can be written again; otherwise restore the "
                      "chain",
                      chain_dir, chain_dir);
    if (code == EXIT_VALID) {
        for (int i = 0; i < notes->n; i++)
            cli_lines_add(ok, "%s", notes->line[i]);
    } else {
        ok->n = 0;
        if (!quiet && code == EXIT_INVALID) {
            cli_lines_print(stdout, fail);
            cli_lines_print(stdout, notes);
        }
    }
    free(fail);
    free(notes);
    return code;
}

/* The chain's writer lock: flock(LOCK_EX) on the directory itself, as every writer's open
 * takes it (docs/FORMAT.md 4), waited for up to wait_ms (polled, as `append --wait`). The
 * descriptor, or -1 (said). */
static int writer_lock(const char *chain, unsigned wait_ms)
{
    int fd = open(chain, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        cli_error("checkpoint", 0, "%s: %s", chain, strerror(errno));
        return -1;
    }
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    unsigned pause_us = 1000;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        clock_gettime(CLOCK_MONOTONIC, &now);
        uint64_t spent_ms = (uint64_t)(now.tv_sec - t0.tv_sec) * 1000u +
                            (uint64_t)((now.tv_nsec - t0.tv_nsec) / 1000000);
        if (e != EWOULDBLOCK || spent_ms >= wait_ms) {
            if (e == EWOULDBLOCK)
                cli_error("checkpoint", 0,
                          "%s: another writer has this chain open%s: nothing set aside (--wait "
                          "MS waits for it; an actor's runtime must be stopped first)",
                          chain, wait_ms ? " (waited)" : "");
            else
                cli_error("checkpoint", 0, "%s: taking the writer lock: %s", chain, strerror(e));
            close(fd);
            return -1;
        }
        usleep(pause_us);
        pause_us = pause_us >= 25000 ? 50000 : pause_us * 2;
    }
    return fd;
}

int cli_own_set_aside(const char *chain, unsigned wait_ms)
{
    if (!cli_is_dir(chain)) {
        cli_error("checkpoint", 0,
                  "--set-aside: %s is not a chain directory (a chain file keeps no checkpoints)",
                  chain);
        return EXIT_UNUSABLE;
    }
    /* Under the writer lock: no writer stores a checkpoint into the folder while it moves,
     * and none opens the chain until it has moved. */
    int dfd = writer_lock(chain, wait_ms);
    if (dfd < 0)
        return EXIT_UNUSABLE;
    int code = EXIT_UNUSABLE;
    cli_own o;
    cli_lines *ok = calloc(1, sizeof *ok);
    ec_chain *c = NULL;
    ec_open_options oo = EC_OPEN_OPTIONS_INIT;
    ec_verify_result vr;
    memset(&vr, 0, sizeof vr);
    oo.verify_out = &vr;
    int rc = cli_own_read("checkpoint", chain, &o);
    if (rc != EXIT_VALID || !ok)
        goto done;
    if (!cli_own_any(&o)) {
        cli_error("checkpoint", 0, "--set-aside: %s has no checkpoints (nothing set aside)", chain);
        goto done;
    }
    /* Only a chain its checkpoints bind and that is sound otherwise: setting them aside
     * repairs nothing else, and from a chain that extends them it would only take away the
     * check they give. */
    if ((rc = ec_chain_open_path(&c, chain, &oo)) == 0) {
        ec_verify_options vo = EC_VERIFY_OPTIONS_INIT;
        rc = ec_chain_verify(c, &vo, &vr);
    }
    if (rc) {
        if (rc == EC_EVERIFY)
            cli_error("checkpoint", 0,
                      "--set-aside: %s: event %llu: %s: the chain itself is broken, which "
                      "setting its checkpoints aside does not repair (nothing set aside)",
                      chain, (unsigned long long)vr.seq,
                      vr.reason[0] ? vr.reason : ec_verify_status_name(vr.status));
        else
            cli_error("checkpoint", 1, "--set-aside: cannot read chain %s", chain);
        code = cli_exit_code(rc);
        goto done;
    }
    int own = cli_own_verify(chain, c, &o, 1, ok);
    if (own == EXIT_UNUSABLE)
        goto done;
    if (own == EXIT_VALID) {
        cli_error("checkpoint", 0,
                  "--set-aside: %s extends its stored checkpoints: nothing set aside (it is for "
                  "a chain they refuse, restored on purpose from an older copy; `evchain "
                  "verify %s` says why one is refused)",
                  chain, chain);
        goto done;
    }
    /* checkpoints.superseded-N, N above every one there: made empty first (mkdir fails on
     * any name that exists, so nothing is ever replaced), then the folder renamed onto it (a
     * rename may replace only an empty directory: the one just made). A crash in between
     * leaves an empty folder and checkpoints/ as it was. */
    unsigned long n = superseded_scan(chain, NULL);
    char name[64];
    for (int tries = 0;; tries++) {
        snprintf(name, sizeof name, SUPERSEDED "%lu", ++n);
        if (mkdirat(dfd, name, 0755) == 0)
            break;
        if (errno != EEXIST || tries == 1000 || n >= 999999999ul) {
            cli_error("checkpoint", 0, "--set-aside: %s/%s: %s (nothing set aside)", chain, name,
                      strerror(errno));
            goto done;
        }
    }
    if (renameat(dfd, "checkpoints", dfd, name) != 0) {
        int e = errno;
        unlinkat(dfd, name, AT_REMOVEDIR);
        cli_error("checkpoint", 0,
                  "--set-aside: renaming %s/checkpoints to %s: %s (nothing set "
                  "aside)",
                  chain, name, strerror(e));
        goto done;
    }
    if (fsync(dfd) != 0) { /* the rename durable: or a crash could bring the folder back */
        cli_error("checkpoint", 0,
                  "--set-aside: %s: syncing the directory: %s (renamed, maybe "
                  "not durably)",
                  chain, strerror(errno));
        goto done;
    }
    cli_printf_msg(stderr,
                   "evchain checkpoint: %s/checkpoints set aside as %s/%s (kept, not deleted): "
                   "the chain (%llu events) has no checkpoints now, so writers accept it and "
                   "verify checks it without; `evchain checkpoint %s --key KEYFILE` signs a new "
                   "one\n",
                   chain, chain, name, (unsigned long long)ec_chain_count(c), chain);
    code = EXIT_VALID;
done:
    ec_chain_free(c);
    cli_own_free(&o);
    free(ok);
    close(dfd);
    return code;
}
