/* cli/proof_util.c: helpers of the proof subcommands: files, keys, atomic output, and the
 * `verify --since` check used by cmd_verify.c. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "proof_util.h"

/* The opening of cli_read_file and cli_read_stored_file: NULL with a message printed (with
 * `absent`, a stored file that does not exist is NULL with *absent set, nothing printed). */
static FILE *open_input(const char *cmd, const char *what, const char *path, int stored,
                        int *absent)
{
    if (!stored) {
        /* '-': standard input, read to its end under the same size limit as a file (the
         * command line has it once: cli_input) */
        if (strcmp(path, "-") == 0)
            return stdin;
        FILE *f = fopen(path, "rb");
        if (!f)
            cli_error(cmd, 0, "%s %s: %s", what, path, strerror(errno));
        return f;
    }
    /* O_NONBLOCK: the open of a FIFO planted there returns at once, to be refused. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 && errno == ENOENT && absent) {
        *absent = 1;
        return NULL;
    }
    if (fd < 0 || fstat(fd, &st) != 0) {
        cli_error(cmd, 0, "%s %s: %s", what, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        cli_error(cmd, 0, "%s %s: not a regular file: refused", what, path);
        close(fd);
        return NULL;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        cli_error(cmd, 0, "%s %s: %s", what, path, strerror(errno));
        close(fd);
    }
    return f;
}

static char *read_input(const char *cmd, const char *what, const char *path, size_t max,
                        size_t *len, int stored, int *absent)
{
    FILE *f = open_input(cmd, what, path, stored, absent);
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (n == cap) {
            if (cap >= max)
                break;
            cap = cap * 2 > max ? max : cap * 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int err = ferror(f);
    int extra = buf && n == cap && cap >= max && fgetc(f) != EOF;
    if (f != stdin)
        fclose(f);
    if (!buf || err || extra) {
        if (!buf)
            cli_error(cmd, 0, "%s %s: out of memory", what, path);
        else if (err)
            cli_error(cmd, 0, "%s %s: read error", what, path);
        else
            cli_error(cmd, 0, "%s %s: larger than %zu bytes", what, path, max);
        free(buf);
        return NULL;
    }
    if (n == 0 && !stored && strcmp(path, "-") == 0) {
        /* Nothing this reads (a key, a checkpoint, a proof, an event) can be empty; said
         * here, with the option it was given for, rather than as the parser's complaint
         * about an empty text ("no verifier key in it", "neither an event record nor...").
         * A named empty file is left to those: its name already says where. */
        const char *opt = cli_stdin_what();
        if (opt && opt[0] == '-')
            cli_error(cmd, 0, "%s -: standard input was empty (expected the %s)", opt, what);
        else
            cli_error(cmd, 0, "the %s (-): standard input was empty", what);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

char *cli_read_file(const char *cmd, const char *what, const char *path, size_t max, size_t *len)
{
    return read_input(cmd, what, path, max, len, 0, NULL);
}

char *cli_read_stored_file(const char *cmd, const char *what, const char *path, size_t max,
                           size_t *len)
{
    return read_input(cmd, what, path, max, len, 1, NULL);
}

char *cli_read_stored_file_if(const char *cmd, const char *what, const char *path, size_t max,
                              size_t *len, int *absent)
{
    *absent = 0;
    return read_input(cmd, what, path, max, len, 1, absent);
}

/* All of data to fd, across short writes and EINTR: 1, or 0 with errno set. */
static int write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO; /* 0 for a non-empty write: never loop on it */
            return 0;
        }
        data += w;
        len -= (size_t)w;
    }
    return 1;
}

/* All of data to a device or FIFO that exists, in place (a rename would replace the node). */
static int write_in_place(const char *cmd, const char *path, const char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int ok = fd >= 0 && write_all(fd, data, len);
    int err = errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    if (!ok) {
        cli_error(cmd, 0, "%s: writing: %s", path, strerror(err));
        return -1;
    }
    return 0;
}

/* cli_write_atomic; with `exists` (and not overwrite), a name that already exists, found
 * first or when linking, is -1 with *exists set and nothing printed. */
static int write_atomic(const char *cmd, const char *name, const void *data, size_t len, int mode,
                        int overwrite, int *exists)
{
    struct stat st;
    if (!overwrite && lstat(name, &st) == 0) {
        if (exists) {
            *exists = 1;
            return -1;
        }
        cli_error(cmd, 0, "%s: already exists (not replaced)", name);
        return -1;
    }
    char path[4096];
    int stream;
    if (ec_output_resolve(name, path, sizeof path, &stream) != 0) {
        cli_error(cmd, 0, "%s", ec_error_last()->message);
        return -1;
    }
    if (stream)
        return write_in_place(cmd, path, data, len);
    size_t pl = strlen(path) + 16;
    char *tmp = malloc(pl);
    if (!tmp) {
        cli_error(cmd, 0, "%s: out of memory", path);
        return -1;
    }
    snprintf(tmp, pl, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        cli_error(cmd, 0, "%s: creating a temporary file: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    int ok = fchmod(fd, (mode_t)mode) == 0 && write_all(fd, data, len);
    int err = errno;
    if (ok && fsync(fd) != 0) {
        ok = 0;
        err = errno;
    }
    if (close(fd) != 0 && ok) {
        ok = 0;
        err = errno;
    }
    if (ok && !overwrite && link(tmp, path) != 0) {
        /* link() refuses to replace: no race with another writer of the same name. */
        ok = 0;
        err = errno;
    } else if (ok && overwrite && rename(tmp, path) != 0) {
        ok = 0;
        err = errno;
    }
    if (!ok || !overwrite)
        unlink(tmp);
    free(tmp);
    if (!ok && exists && !overwrite && err == EEXIST) {
        *exists = 1; /* made by another writer in between */
        return -1;
    }
    if (!ok) {
        cli_error(cmd, 0, "%s: writing: %s", path, strerror(err));
        return -1;
    }
    /* Make the new name durable too. */
    char *dir = strdup(path);
    if (dir) {
        char *slash = strrchr(dir, '/');
        const char *d = slash ? (slash == dir ? "/" : (*slash = 0, dir)) : ".";
        int dfd = open(d, O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    return 0;
}

int cli_write_atomic(const char *cmd, const char *name, const void *data, size_t len, int mode,
                     int overwrite)
{
    return write_atomic(cmd, name, data, len, mode, overwrite, NULL);
}

void cli_free_vkeys(ec_vkey **keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ec_vkey_free(keys[i]);
    free(keys);
}

int cli_load_vkeys(const char *cmd, char **specs, int nspecs, ec_vkey ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (nspecs == 0) {
        cli_error(cmd, 0, "no verifier key: give --vkey VKEY (a key text or a file)");
        return -1;
    }
    size_t cap = 0;
    ec_vkey **keys = NULL;
    for (int i = 0; i < nspecs; i++) {
        struct stat st;
        char *text = NULL;
        size_t len;
        int is_file = strcmp(specs[i], "-") == 0 || stat(specs[i], &st) == 0;
        if (is_file) {
            text = cli_read_file(cmd, "verifier key", specs[i], 1 << 16, &len);
            if (!text)
                goto fail;
        }
        const char *s = is_file ? text : specs[i];
        size_t total = is_file ? len : strlen(s);
        int found = 0;
        for (size_t pos = 0; pos < total;) {
            const char *nl = memchr(s + pos, '\n', total - pos);
            size_t ll = nl ? (size_t)(nl - (s + pos)) : total - pos;
            const char *line = s + pos;
            pos += ll + 1;
            size_t k = 0;
            while (k < ll && (line[k] == ' ' || line[k] == '\t' || line[k] == '\r'))
                k++;
            if (k == ll || line[k] == '#')
                continue;
            if (*n == cap) {
                cap = cap ? cap * 2 : 4;
                ec_vkey **nk = realloc(keys, cap * sizeof *nk);
                if (!nk) {
                    free(text);
                    cli_error(cmd, 0, "out of memory");
                    goto fail;
                }
                keys = nk;
            }
            if (ec_vkey_parse(&keys[*n], line, ll) != 0) {
                cli_error(cmd, 1, "--vkey %s: %s", specs[i],
                          is_file ? "bad verifier key in file"
                                  : "neither a file nor a verifier key <name>+<id>+<key>");
                free(text);
                goto fail;
            }
            (*n)++;
            found = 1;
        }
        free(text);
        if (!found) {
            cli_error(cmd, 0, "--vkey %s: no verifier key in it", specs[i]);
            goto fail;
        }
    }
    *out = keys;
    return 0;
fail:
    cli_free_vkeys(keys, *n);
    *n = 0;
    return -1;
}

int cli_load_signer(const char *cmd, const char *path, ec_signer **out)
{
    size_t len;
    char *text = cli_read_file(cmd, "key file", path, 1 << 16, &len);
    if (!text)
        return -1;
    int rc = ec_signer_parse(out, text, len);
    memset(text, 0, len);
    free(text);
    if (rc) {
        cli_error(cmd, 1, "key file %s", path);
        return -1;
    }
    return 0;
}

/* The file output named `name` lands in, for comparing two destinations: the resolved path
 * (ec_output_resolve) with its folder made absolute, and its device and inode when it exists
 * (*exists). -1 with a message printed. */
static int destination(const char *cmd, const char *name, char *out, size_t cap, struct stat *st,
                       int *exists)
{
    int stream;
    char path[4096];
    if (ec_output_resolve(name, path, sizeof path, &stream) != 0) {
        cli_error(cmd, 0, "%s", ec_error_last()->message);
        return -1;
    }
    *exists = stat(path, st) == 0;
    char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    char *real = realpath(dir[0] ? dir : "/", NULL);
    snprintf(out, cap, "%s/%s", real ? real : dir, base);
    free(real);
    return 0;
}

/* Before anything is written: both names free (unless overwrite) and not one file, so that
 * a refusal never leaves a key without its verifier key, and the verifier key never
 * replaces the private key just made (--vkey-out naming the key file, or a link to it). */
static int keypair_check(const char *cmd, const char *key_path, const char *vkey_path,
                         int overwrite)
{
    const char *names[2] = {key_path, vkey_path};
    struct stat st;
    for (int i = 0; i < 2 && !overwrite; i++)
        if (names[i] && lstat(names[i], &st) == 0) {
            cli_error(cmd, 0, "%s: already exists (not replaced; nothing written)", names[i]);
            return -1;
        }
    if (!vkey_path)
        return 0;
    char a[8200], b[8200];
    struct stat sa, sb;
    int ea, eb;
    if (destination(cmd, key_path, a, sizeof a, &sa, &ea) != 0 ||
        destination(cmd, vkey_path, b, sizeof b, &sb, &eb) != 0)
        return -1;
    if (strcmp(a, b) == 0 ||
        (ea && eb && S_ISREG(sa.st_mode) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino)) {
        cli_error(cmd, 0,
                  "-o %s and --vkey-out %s are the same file: the verifier key would replace "
                  "the private key (nothing written)",
                  key_path, vkey_path);
        return -1;
    }
    return 0;
}

int cli_write_keypair(const char *cmd, ec_signer *s, const char *key_path, const char *vkey_path,
                      int overwrite, char **vkey_out)
{
    char *skey = NULL, *vkey = NULL;
    int rc = -1;
    *vkey_out = NULL;
    if (keypair_check(cmd, key_path, vkey_path, overwrite) != 0)
        return -1;
    if (ec_signer_text(s, &skey) != 0 || ec_signer_vkey_text(s, &vkey) != 0) {
        cli_error(cmd, 1, "cannot format the key");
        goto done;
    }
    size_t sl = strlen(skey), vl = strlen(vkey);
    skey[sl] = '\n'; /* in place of the NUL, written without it, then put back */
    int wrc = cli_write_atomic(cmd, key_path, skey, sl + 1, 0600, overwrite);
    skey[sl] = 0;
    if (wrc != 0)
        goto done;
    if (vkey_path) {
        vkey[vl] = '\n';
        wrc = cli_write_atomic(cmd, vkey_path, vkey, vl + 1, 0644, overwrite);
        vkey[vl] = 0;
        if (wrc != 0)
            goto done;
    }
    *vkey_out = vkey;
    vkey = NULL;
    rc = 0;
done:
    if (skey) {
        memset(skey, 0, strlen(skey));
        free(skey);
    }
    free(vkey);
    return rc;
}

/* The runtime's checkpoint key: the given file, or DIR/runtime.key made on first use (with
 * DIR/runtime.vkey, the verifier key an auditor checks checkpoints and proofs with).
 * Several runtimes may start on a fresh data directory at once: the key is linked into
 * place whole (write_atomic), so exactly one of them makes it and the others, finding the
 * name taken, load that key: every runtime of a data directory signs with the same key. */
int cli_runtime_signer(const char *cmd, const char *data_dir, const char *key_path, ec_signer **out)
{
    char def[4200], vdef[4200];
    *out = NULL;
    if (key_path)
        return cli_load_signer(cmd, key_path, out);
    snprintf(def, sizeof def, "%s/runtime.key", data_dir);
    snprintf(vdef, sizeof vdef, "%s/runtime.vkey", data_dir);
    struct stat st;
    if (stat(def, &st) == 0)
        return cli_load_signer(cmd, def, out);
    if (mkdir(data_dir, 0755) != 0 && errno != EEXIST) {
        cli_error(cmd, 0, "%s: %s", data_dir, strerror(errno));
        return -1;
    }
    if (lstat(vdef, &st) == 0) {
        /* A verifier key without its key: never pair it with a new one. */
        cli_error(cmd, 0, "%s: already exists without %s (not replaced; nothing written)", vdef,
                  def);
        return -1;
    }
    ec_signer *s = NULL;
    char *skey = NULL, *vkey = NULL;
    int rc = -1, exists = 0;
    if (ec_signer_generate(&s, "evchain-runtime") != 0 || ec_signer_text(s, &skey) != 0 ||
        ec_signer_vkey_text(s, &vkey) != 0) {
        cli_error(cmd, 1, "cannot make the runtime's checkpoint key");
        goto done;
    }
    size_t sl = strlen(skey), vl = strlen(vkey);
    skey[sl] = '\n'; /* in place of the NUL, written without it, then put back */
    int wrc = write_atomic(cmd, def, skey, sl + 1, 0600, 0, &exists);
    skey[sl] = 0;
    if (wrc != 0 && exists) {
        /* Another runtime made it first; linked whole, so it is complete once named. */
        rc = cli_load_signer(cmd, def, out);
        goto done;
    }
    if (wrc != 0)
        goto done;
    vkey[vl] = '\n';
    wrc = cli_write_atomic(cmd, vdef, vkey, vl + 1, 0644, 0);
    vkey[vl] = 0;
    if (wrc != 0)
        goto done;
    cli_printf_msg(stderr, "evchain %s: made checkpoint key %s; verifier key %s\n", cmd, def, vkey);
    *out = s;
    s = NULL;
    rc = 0;
done:
    if (skey) {
        memset(skey, 0, strlen(skey));
        free(skey);
    }
    free(vkey);
    ec_signer_free(s);
    return rc;
}

int cli_runtime_signer_would_make(const char *data_dir)
{
    char def[4200], vdef[4200];
    struct stat st;
    snprintf(def, sizeof def, "%s/runtime.key", data_dir);
    snprintf(vdef, sizeof vdef, "%s/runtime.vkey", data_dir);
    return stat(def, &st) != 0 && lstat(vdef, &st) != 0;
}

int cli_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int cli_origin_mismatch(const char *who, const char *note, size_t len, ec_vkey *const *keys,
                        size_t nkeys, const char *origin)
{
    ec_checkpoint cp;
    if (!origin || ec_checkpoint_open(&cp, note, len, keys, nkeys) != 0)
        return 0;
    if (strcmp(cp.origin, origin) == 0)
        return 0;
    cli_printf_msg(stdout,
                   "%s: the checkpoint's origin is '%s', not '%s' (--origin): it is not "
                   "about that chain\n",
                   who, cp.origin, origin);
    return 1;
}

/* ec_checkpoint_stored, said on stderr when it fails: *note NULL when there is none. */
static int stored(const char *cmd, const char *chain_dir, char **note, ec_checkpoint *cp,
                  char *file, size_t cap)
{
    size_t len;
    if (ec_checkpoint_stored(chain_dir, note, &len, cp, file, cap) == 0)
        return 0;
    cli_error(cmd, 1, "%s: reading its stored checkpoints", chain_dir);
    return -1;
}

int cli_stored_origin(const char *cmd, const char *chain_dir, char *out, size_t cap, char *file,
                      size_t file_cap)
{
    out[0] = 0;
    char *note;
    ec_checkpoint cp;
    if (stored(cmd, chain_dir, &note, &cp, file, file_cap) != 0)
        return -1;
    if (note)
        snprintf(out, cap, "%s", cp.origin);
    free(note);
    return 0;
}

int cli_stored_size(const char *cmd, const char *chain_dir, uint64_t *size)
{
    /* the signature is not checked: a forged larger size can only make the writer refuse */
    *size = 0;
    char *note;
    ec_checkpoint cp;
    if (stored(cmd, chain_dir, &note, &cp, NULL, 0) != 0)
        return -1;
    if (note)
        *size = cp.size;
    free(note);
    return 0;
}

int cli_keep_origin(const char *cmd, const char *chain, const char **origin, char *stored_origin,
                    size_t cap)
{
    char file[4400];
    if (cli_stored_origin(cmd, chain, stored_origin, cap, file, sizeof file) != 0)
        return -1;
    if (stored_origin[0] && *origin && strcmp(*origin, stored_origin) != 0) {
        cli_error(cmd, 0,
                  "%s: its checkpoints have origin '%s' (%s): a chain keeps its origin, "
                  "--origin '%s' refused",
                  chain, stored_origin, file, *origin);
        return -1;
    }
    if (stored_origin[0])
        *origin = stored_origin;
    return 0;
}

void cli_note_origin(const char *note, char *out, size_t cap)
{
    out[0] = 0;
    /* The text ends at the first blank line: a checkpoint's text lines are never empty. */
    const char *blank = strstr(note, "\n\n");
    ec_checkpoint cp;
    if (blank && ec_checkpoint_parse(&cp, note, (size_t)(blank - note) + 1) == 0)
        snprintf(out, cap, "%s", cp.origin);
}

void cli_lines_add(cli_lines *l, const char *fmt, ...)
{
    if (l->n >= CLI_LINES_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->line[l->n++], sizeof l->line[0], fmt, ap);
    va_end(ap);
}

void cli_lines_print(FILE *out, const cli_lines *l)
{
    for (int i = 0; i < l->n; i++)
        cli_printf_msg(out, "%s\n", l->line[i]);
}

int cli_verify_since(const char *path, ec_chain *chain, int chain_verified,
                     const char *checkpoint_path, char **vkey_specs, int nvkeys,
                     const char *ok_line, const cli_lines *ok_note, const char *origin,
                     int is_bundle)
{
    ec_vkey **keys;
    size_t nk;
    if (cli_load_vkeys("verify", vkey_specs, nvkeys, &keys, &nk) != 0)
        return EXIT_UNUSABLE;
    size_t len;
    char *note = cli_read_file("verify", "checkpoint", checkpoint_path, EC_NOTE_MAX_LEN, &len);
    if (!note) {
        cli_free_vkeys(keys, nk);
        return EXIT_UNUSABLE;
    }
    char who[4400];
    snprintf(who, sizeof who, "%s: checkpoint %s", path, checkpoint_path);
    if (cli_origin_mismatch(who, note, len, keys, nk, origin)) {
        free(note);
        cli_free_vkeys(keys, nk);
        return EXIT_INVALID;
    }
    ec_since_options so = EC_SINCE_OPTIONS_INIT;
    so.chain_verified = chain_verified;
    ec_since_result r;
    int rc = ec_proof_verify_since(chain, note, len, keys, nk, &so, &r);
    free(note);
    cli_free_vkeys(keys, nk);
    if (rc == 0) {
        if (ok_line)
            cli_printf_msg(stdout, "%s\n", ok_line);
        if (ok_note)
            cli_lines_print(stdout, ok_note);
        /* A bundle's other entries (module, objects, labels, sandbox files) are covered
         * only by its own digests, which anyone who changes an entry can recompute: the
         * verdict must not let "extends checkpoint" read as a statement about them. */
        cli_printf_msg(
            stdout, "%s: extends checkpoint %s of %s (%llu of %llu events, signed by %s)%s\n", path,
            checkpoint_path, r.checkpoint.origin, (unsigned long long)r.checkpoint.size,
            (unsigned long long)r.chain_size, r.checkpoint.signer,
            is_bundle ? "; the checkpoint covers only the chain: the bundle's module, "
                        "objects, labels and sandbox files match its own digests, "
                        "which are not signed"
                      : "");
        return EXIT_VALID;
    }
    if (rc == EC_EVERIFY) {
        if (r.status == EC_SINCE_OK) /* the checkpoint's signature did not check */
            cli_printf_msg(stdout, "%s: checkpoint %s not trusted: %s\n", path, checkpoint_path,
                           ec_error_last() ? ec_error_last()->message : r.reason);
        else
            cli_printf_msg(stdout, "%s: %s\n", path, r.reason);
        return EXIT_INVALID;
    }
    cli_error("verify", 1, "%s: --since %s", path, checkpoint_path);
    return EXIT_UNUSABLE;
}

/* Monotonic microseconds, for the --wait deadline. */
static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ec_chain_open_path as the writer, waiting up to wait_ms for another writer's lock as
 * `append --wait` does (polled: 1 ms, doubling to 50 ms, never past the deadline). */
static int open_writer(ec_chain **out, const char *path, const ec_open_options *oo,
                       unsigned wait_ms)
{
    uint64_t deadline = mono_us() + (uint64_t)wait_ms * 1000u;
    unsigned pause_us = 1000;
    for (;;) {
        int rc = ec_chain_open_path(out, path, oo);
        uint64_t now = mono_us();
        if (rc != EC_ELOCKED || now >= deadline)
            return rc;
        uint64_t left = deadline - now;
        usleep(left < pause_us ? (useconds_t)left + 1 : pause_us);
        pause_us = pause_us >= 25000 ? 50000 : pause_us * 2;
    }
}

int cli_open_proof_chain(const char *cmd, const char *path, int want_write, unsigned wait_ms,
                         int rebuild, cli_proof_chain *pc)
{
    memset(pc, 0, sizeof *pc);
    pc->is_dir = cli_is_dir(path);
    ec_open_options oo = EC_OPEN_OPTIONS_INIT;
    ec_verify_result vr;
    memset(&vr, 0, sizeof vr);
    oo.verify_out = &vr;
    oo.writable = pc->is_dir && want_write;
    int rc = oo.writable ? open_writer(&pc->chain, path, &oo, wait_ms)
                         : ec_chain_open_path(&pc->chain, path, &oo);
    /* A chain directory opened to store into is stored into, or nothing is signed: a
     * checkpoint printed but not kept would leave `prove` and auditors on an older one while
     * the command said it succeeded (exit 0). Signing without storing is asked for
     * explicitly (checkpoint --no-store, a read-only open). */
    if (rc == EC_ELOCKED && oo.writable) {
        char waited[64] = "";
        if (wait_ms)
            snprintf(waited, sizeof waited, " (waited %u ms)", wait_ms);
        cli_error(cmd, 0,
                  "%s: another writer has this chain open%s: no checkpoint signed or stored "
                  "(--wait MS waits for the writer; --no-store signs one without storing it)",
                  path, waited);
        return EXIT_UNUSABLE;
    }
    if (rc && rc != EC_EVERIFY && oo.writable) {
        /* Readable but not writable (a read-only mount, another user's chain): say that,
         * not that it cannot be read. A damaged chain (EC_EVERIFY) is reported as broken
         * below, as a reader finds it. */
        char why[1024];
        const ec_error *e = ec_error_last();
        snprintf(why, sizeof why, "%s", e && e->message ? e->message : "cannot open it");
        ec_open_options ro = oo;
        ro.writable = 0;
        ec_chain *probe;
        if (ec_chain_open_path(&probe, path, &ro) == 0) {
            ec_chain_free(probe);
            cli_error(cmd, 0,
                      "%s: the chain can be read but not written (%s): no checkpoint signed "
                      "or stored (--no-store signs one without storing it)",
                      path, why);
            return EXIT_UNUSABLE;
        }
    }
    if (rc) {
        cli_error(cmd, 1, "cannot read chain %s", path);
        return cli_exit_code(rc);
    }
    pc->writable = oo.writable;
    ec_tree_options to = EC_TREE_OPTIONS_INIT;
    char tree_path[4200];
    if (pc->is_dir) {
        snprintf(tree_path, sizeof tree_path, "%s/proof/tree", path);
        snprintf(pc->cp_dir, sizeof pc->cp_dir, "%s/checkpoints", path);
        to.path = tree_path;
        to.read_only = !pc->writable;
    }
    if (rebuild) {
        /* Trust nothing stored: the whole chain verified, the tree recomputed from it. */
        ec_verify_options vo = EC_VERIFY_OPTIONS_INIT;
        rc = ec_chain_verify(pc->chain, &vo, &vr);
        if (rc) {
            if (rc == EC_EVERIFY)
                cli_error(cmd, 0, "%s: event %llu: %s", path, (unsigned long long)vr.seq,
                          vr.reason);
            else
                cli_error(cmd, 1, "%s: cannot verify", path);
            ec_chain_free(pc->chain);
            pc->chain = NULL;
            return cli_exit_code(rc);
        }
        if (pc->is_dir && pc->writable)
            unlink(tree_path);
        else
            to.path = NULL;
    }
    rc = ec_tree_open(&pc->tree, pc->chain, &to);
    if (rc) {
        cli_error(cmd, 1, "%s: cannot build its Merkle tree", path);
        ec_chain_free(pc->chain);
        pc->chain = NULL;
        return cli_exit_code(rc);
    }
    return EXIT_VALID;
}

void cli_close_proof_chain(cli_proof_chain *pc)
{
    ec_tree_free(pc->tree);
    ec_chain_free(pc->chain);
    memset(pc, 0, sizeof *pc);
}

int cli_sign_checkpoint(cli_proof_chain *pc, ec_signer *s, const char *origin, int replace,
                        char **note, size_t *len)
{
    *note = NULL;
    *len = 0;
    if (!pc->is_dir) /* a file keeps no checkpoints: nothing to be consistent with */
        return ec_checkpoint_sign(note, len, pc->tree, origin, s);
    /* The storing path's checkpointer, storing or not: one check (check_consistent in
     * proof/checkpoint.c) decides whether a root may be signed, so that a checkpoint printed
     * (--no-store) or put in a proof (prove --key) never forks the chain's signed log where a
     * stored one would have been refused. */
    ec_checkpointer_options co = EC_CHECKPOINTER_OPTIONS_INIT;
    co.dir = pc->cp_dir;
    co.origin = origin;
    co.replace = replace;
    co.no_store = !pc->writable;
    ec_checkpointer *cp;
    int rc = ec_checkpointer_new(&cp, pc->tree, s, &co);
    if (rc == 0)
        rc = ec_checkpointer_write(cp, 1);
    if (rc == 0) {
        const char *last = ec_checkpointer_last(cp, len);
        *note = malloc(*len + 1);
        if (*note)
            memcpy(*note, last, *len + 1);
        else
            rc = EC_ENOMEM;
    }
    ec_checkpointer_free(cp);
    return rc;
}
