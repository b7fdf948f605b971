/* cli/cmd_import.c: `evchain import`: a JSON, JSONL or Theater file into a new chain
 * directory, verified while read. Built under a temporary name beside the target and renamed
 * into place when complete, so a refused or interrupted import leaves no half chain. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "replay_cli.h"

const char help_import[] =
    "import a JSON, JSONL or Theater file into a new chain directory\n"
    "usage: evchain import <file> -o <dir> [--format json|jsonl|theater]\n"
    "                      [--segment-bytes N]\n"
    "  <file>              a JSON, JSONL or Theater file; '-': standard input (a pipe is\n"
    "                      copied to an unlinked file beside DIR first: the import reads\n"
    "                      it again for each hash algorithm it tries)\n"
    "  -o DIR              the chain directory to create (absent or empty)\n"
    "  --format F          the file's format (default: detected from its content)\n"
    "  --segment-bytes N   roll segment files at about N bytes: 4096 to 2147483648\n"
    "                      (2 GiB, the most a segment's 4-byte index offsets allow;\n"
    "                      default 64 MiB)\n"
    "Every event is checked (hash, parent link, seq) before it is stored; the first bad one\n"
    "stops the import and nothing is left at DIR.\n"
    "       evchain import --bundle FILE --data-dir DIR: an actor bundle (export --bundle),\n"
    "       verified and replayed in full before anything is written; then `evchain resume`.\n"
    "       Its module, objects, labels and sandbox files are checked against the bundle's\n"
    "       own digests, which nobody signs: `evchain verify B --since CHECKPOINT` covers\n"
    "       its chain only (docs/FORMAT.md section 8). A bundle lacking an object or label\n"
    "       its chain needs is refused (exit 1). The replay rebuilds the actor's snapshots\n"
    "       into the store (for `resume --from-snapshot`). Imports into one DIR take turns\n"
    "       (a lock on DIR); a refused one leaves nothing, not even DIR when it made it.\n"
    "SIGINT, SIGTERM or SIGHUP stop the import: the temporary directory beside DIR\n"
    "(DIR.import-XXXXXX) is removed and nothing is left at DIR; `import -` stops so while it\n"
    "copies standard input too (the copy is an unlinked file). One left by a killed import\n"
    "(kill -9, a crash) is named by the next import to DIR, not removed (another import may\n"
    "be using it): remove it by hand.\n"
    "exit: 0 imported, 1 the file's chain is broken, 2 unreadable input, DIR not empty, or\n"
    "usage error; 130, 143, 129 stopped by SIGINT, SIGTERM, SIGHUP (128 + the signal)\n";

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Empty the directory but keep it (the next attempt creates the chain there again). */
static int empty_dir(const char *dir)
{
    rm_tree(dir);
    return mkdir(dir, 0755);
}

static int fsync_parent(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -1;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    free(copy);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Stopping on SIGINT/TERM/HUP. The import is one library call, so the handler cannot just
 * set a flag for a loop of ours to see: it also puts /dev/null over the input's descriptor
 * (dup2 is async-signal-safe), so the library's next read is the end of the file and the
 * call returns promptly; cmd_import then sees the flag and throws the partial chain away
 * whatever the call returned (a JSONL file cut at a line end would otherwise import). */
static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t stop_in_fd = -1; /* -1 once the input is closed: never another fd */
static int stop_null_fd = -1;

static void on_stop(int sig)
{
    int saved = errno;
    stop_signal = sig;
    if (stop_in_fd >= 0 && stop_null_fd >= 0)
        (void)dup2(stop_null_fd, stop_in_fd);
    errno = saved;
}

static const int stop_sigs[] = {SIGINT, SIGTERM, SIGHUP};
static struct sigaction stop_old[3];

static void stop_catch(int on)
{
    for (int k = 0; k < 3; k++) {
        if (on) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_stop;
            sigemptyset(&sa.sa_mask);
            sigaction(stop_sigs[k], &sa, &stop_old[k]);
        } else {
            sigaction(stop_sigs[k], &stop_old[k], NULL);
        }
    }
}

/* The signals back as they were, /dev/null closed: the import is over either way. */
static void stop_end(void)
{
    stop_catch(0);
    if (stop_null_fd >= 0)
        close(stop_null_fd);
    stop_null_fd = -1;
}

/* After a refused or cut import, 128 + the signal that stopped it, said so (and whether
 * standard input had been read to its end: `import -` copies a pipe before it imports);
 * -1 when none did (the caller then exits for its own reason). */
static int stopped_exit(const char *dir, int copying_stdin)
{
    if (!stop_signal)
        return -1;
    const char *name = stop_signal == SIGINT    ? "SIGINT"
                       : stop_signal == SIGTERM ? "SIGTERM"
                                                : "SIGHUP";
    cli_error("import", 0, "stopped by %s (signal %d)%s; nothing was written to %s", name,
              (int)stop_signal, copying_stdin ? " while reading standard input" : "", dir);
    return 128 + stop_signal;
}

/* `import -`: standard input as a file the import can read again from its start (it tries
 * each hash algorithm in turn: cmd_import). Standard input redirected from a regular file
 * is that file, from where it stands (*start). A pipe is copied to an unlinked file beside
 * DIR (on DIR's file system, bounded by its space as the chain itself is; nothing is left
 * when the process ends), as a named file is read: whole, with no limit of its own. A
 * stopping signal ends the copy (on_stop puts /dev/null over standard input: stop_in_fd is
 * set by the caller before the handler is installed). NULL with a message printed. */
static FILE *open_stdin(const char *dir, size_t dl, off_t *start)
{
    struct stat st;
    if (fstat(STDIN_FILENO, &st) == 0 && S_ISREG(st.st_mode) && (*start = ftello(stdin)) >= 0)
        return stdin;
    *start = 0;
    char *path = malloc(dl + 32);
    if (!path) {
        cli_error("import", 0, "out of memory");
        return NULL;
    }
    snprintf(path, dl + 32, "%.*s.stdin-XXXXXX", (int)dl, dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        cli_error("import", 0, "%s: cannot create a file beside it for standard input: %s", dir,
                  strerror(errno));
        free(path);
        return NULL;
    }
    unlink(path);
    free(path);
    char buf[65536];
    int err = 0;
    /* (A signal before a read makes it read /dev/null's end; the check spares the read.) */
    while (!stop_signal) {
        ssize_t got = read(STDIN_FILENO, buf, sizeof buf);
        if (got < 0 && errno == EINTR && !stop_signal)
            continue;
        if (got <= 0) {
            err = got < 0 ? errno : 0;
            break;
        }
        for (ssize_t off = 0; off < got && !err;) {
            ssize_t w = write(fd, buf + off, (size_t)(got - off));
            if (w < 0 && errno != EINTR)
                err = errno;
            else if (w > 0)
                off += w;
        }
        if (err)
            break;
    }
    stop_in_fd = -1;
    FILE *f = NULL;
    if (!err && !stop_signal && lseek(fd, 0, SEEK_SET) == 0)
        f = fdopen(fd, "rb");
    if (!f) {
        if (!stop_signal)
            cli_error("import", 0, "standard input: copying it beside %s: %s", dir,
                      strerror(err ? err : errno));
        close(fd);
    }
    return f;
}

/* Temporary directories of earlier imports to the same DIR that were killed (kill -9, a
 * crash) are named, not removed: one may belong to an import running right now (its writer
 * lock is not held between its attempts at the hash algorithm), and removing it would break
 * that import. */
static void note_leftovers(const char *dir, size_t dl)
{
    char *copy = strndup(dir, dl);
    if (!copy)
        return;
    const char *slash = strrchr(copy, '/');
    const char *base = slash ? slash + 1 : copy;
    char *parent = slash ? strndup(copy, (size_t)(slash - copy) + (slash == copy)) : strdup(".");
    DIR *dp = parent ? opendir(parent) : NULL;
    struct dirent *e;
    size_t bl = strlen(base);
    while (dp && (e = readdir(dp)) != NULL)
        if (strncmp(e->d_name, base, bl) == 0 && strncmp(e->d_name + bl, ".import-", 8) == 0 &&
            strlen(e->d_name + bl + 8) == 6)
            fprintf(stderr,
                    "evchain import: note: %s%s%s was left by a killed import to %s (unless "
                    "one is running now): remove it once none is\n",
                    slash ? parent : "", slash && strcmp(parent, "/") ? "/" : "", e->d_name, dir);
    if (dp)
        closedir(dp);
    free(parent);
    free(copy);
}

/* Progress on a terminal: import is one library call, so a thread samples how far into the
 * file it has read and how many events the chain holds (through the backend's own lock). */
struct progress {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    FILE *f;
    off_t size;
    ec_backend *be;
    double t0;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One line on stderr: bar by bytes read, events stored, rate, time left. */
static void draw(const struct progress *pr, uint64_t events, uint64_t at)
{
    double secs = now_s() - pr->t0, frac = pr->size > 0 ? (double)at / (double)pr->size : 0;
    double rate = secs > 0 ? (double)events / secs : 0;
    double left = frac > 0 && frac < 1 ? secs / frac - secs : 0;
    char bar[31];
    for (int k = 0; k < 30; k++)
        bar[k] = k < (int)(frac * 30) ? '#' : '.';
    bar[30] = 0;
    fprintf(stderr, "\rimport [%s] %llu events  %.0f/%.0f MB  %.0f ev/s  %.0fs left ", bar,
            (unsigned long long)events, (double)at / 1e6, (double)pr->size / 1e6, rate, left);
}

static void *progress_main(void *arg)
{
    struct progress *pr = arg;
    pthread_mutex_lock(&pr->mu);
    while (!pr->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&pr->cv, &pr->mu, &ts);
        if (pr->stop)
            break;
        long at = ftell(pr->f);
        uint64_t events = 0;
        if (pr->be->count(pr->be, &events) != 0 || at < 0)
            continue;
        draw(pr, events, (uint64_t)at);
    }
    pthread_mutex_unlock(&pr->mu);
    return NULL;
}

int cmd_import(int argc, char **argv)
{
    /* actor migration bundles: cli/bundle.c. A plain scan (an option's value could look like
     * "--"): up to the first "--", after which --bundle would be an operand. */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--bundle") == 0)
            return cli_import_bundle(argc, argv);
    const char *in = NULL, *dir = NULL, *v;
    ec_file_format fmt = EC_FORMAT_AUTO;
    uint64_t seg_bytes = 0;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        if ((v = cli_opt(argc, argv, &i, "-o", &bad)) ||
            (!bad && (v = cli_opt(argc, argv, &i, "--output", &bad)))) {
            dir = v;
        } else if ((v = cli_opt(argc, argv, &i, "--format", &bad))) {
            if (ec_format_from_name(&fmt, v) != 0 || fmt == EC_FORMAT_DIR) {
                cli_error("import", 0, "--format: '%s' is not json, jsonl or theater", v);
                return EXIT_UNUSABLE;
            }
        } else if ((v = cli_opt(argc, argv, &i, "--segment-bytes", &bad))) {
            if (cli_parse_u64(v, &seg_bytes) != 0 || seg_bytes < 4096) {
                cli_error("import", 0, "--segment-bytes: '%s' is not a size >= 4096", v);
                return EXIT_UNUSABLE;
            }
        } else if (bad) {
            return EXIT_UNUSABLE;
        } else if (cli_arg_kind(argv, i) == CLI_END) {
            /* "--": the operands follow */
        } else if (cli_arg_kind(argv, i) == CLI_UNKNOWN) {
            cli_error("import", 0, "unknown option '%s' (see `evchain help import`)", argv[i]);
            return EXIT_UNUSABLE;
        } else if (!in) {
            in = argv[i];
        } else {
            cli_error("import", 0, "more than one input file given ('%s')", argv[i]);
            return EXIT_UNUSABLE;
        }
    }
    if (!in || !dir) {
        cli_error("import", 0, "%s\nusage: evchain import <file> -o <dir>",
                  in ? "no output directory (-o DIR)" : "no input file given");
        return EXIT_UNUSABLE;
    }
    struct stat st;
    if (stat(dir, &st) == 0) {
        DIR *dp = S_ISDIR(st.st_mode) ? opendir(dir) : NULL;
        int empty = dp != NULL;
        struct dirent *e;
        while (dp && (e = readdir(dp)) != NULL)
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                empty = 0;
        if (dp)
            closedir(dp);
        if (!empty) {
            cli_error("import", 0, "%s: exists and is not an empty directory; refusing", dir);
            return EXIT_UNUSABLE;
        }
    }
    /* A symbolic link to an empty directory: the chain goes into that directory (the rename
     * below would fail on the link, or replace it). */
    char real[PATH_MAX];
    struct stat lst;
    if (lstat(dir, &lst) == 0 && S_ISLNK(lst.st_mode) && realpath(dir, real))
        dir = real;
    struct stat ist;
    if (strcmp(in, "-") != 0 && stat(in, &ist) == 0 && S_ISDIR(ist.st_mode)) {
        cli_error("import", 0, "%s: a directory; import reads a JSON, JSONL or Theater file", in);
        return EXIT_UNUSABLE;
    }
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    int from_stdin = strcmp(in, "-") == 0;
    const char *name = from_stdin ? "(stdin)" : in;
    off_t start = 0;
    FILE *f = NULL;
    if (from_stdin) {
        /* The copy of a pipe can take long: a signal stops it as it stops the import. The
         * descriptor the handler cuts is set before the handler is installed: set after it
         * (once the copy's file was made), a signal that came in between only set the flag,
         * and the copy then waited in read() for a pipe that may never end (cli_args). */
        stop_null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        stop_in_fd = STDIN_FILENO;
        stop_catch(1);
        f = open_stdin(dir, dl, &start);
        if (!f) {
            stop_in_fd = -1;
            stop_end();
            int code = stopped_exit(dir, 1);
            return code >= 0 ? code : EXIT_UNUSABLE;
        }
    } else if (!(f = fopen(in, "rb"))) {
        cli_error("import", 0, "%s: %s", in, strerror(errno));
        return EXIT_UNUSABLE;
    }
    char *tmp = malloc(dl + 32);
    if (!tmp) {
        fclose(f);
        cli_error("import", 0, "out of memory");
        return EXIT_UNUSABLE;
    }
    snprintf(tmp, dl + 32, "%.*s.import-XXXXXX", (int)dl, dir);
    note_leftovers(dir, dl);
    if (!from_stdin) {
        stop_null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        stop_catch(1);
    }
    stop_in_fd = fileno(f);
    if (!mkdtemp(tmp)) {
        cli_error("import", 0, "%s: cannot create a temporary directory beside it: %s", dir,
                  strerror(errno));
        stop_end();
        stop_in_fd = -1;
        free(tmp);
        fclose(f);
        return EXIT_UNUSABLE;
    }
    /* mkdtemp makes it 0700; the chain gets the mode `init` gives one (0777 less the umask),
     * or an auditor's account could not read what was imported. */
    mode_t mask = umask(0);
    umask(mask);
    if (chmod(tmp, 0777 & ~mask) != 0) {
        cli_error("import", 0, "%s: %s", tmp, strerror(errno));
        rmdir(tmp);
        stop_end();
        stop_in_fd = -1;
        free(tmp);
        fclose(f);
        return EXIT_UNUSABLE;
    }
    /* The file names its algorithm; the chain's is fixed when it is created. Try the
     * algorithms in turn: a mismatch is refused before any event is read. */
    static const ec_hash_alg algs[] = {EC_HASH_SHA256, EC_HASH_SHA1, EC_HASH_THEATER_SHA1};
    int rc = 0;
    uint64_t n = 0;
    for (size_t k = 0; k < sizeof algs / sizeof algs[0]; k++) {
        ec_disk_options o = EC_DISK_OPTIONS_INIT;
        o.create = 1;
        o.alg = algs[k];
        o.durability = EC_DURABLE_NONE; /* one sync at the end, before the rename */
        o.segment_bytes = seg_bytes;
        ec_backend *be;
        ec_chain *c = NULL;
        if (stop_signal)
            break;
        if (k && (empty_dir(tmp) != 0 || fseeko(f, start, SEEK_SET) != 0)) {
            cli_error("import", 0, "%s: cannot retry: %s", name, strerror(errno));
            rc = EC_EIO;
            break;
        }
        rc = ec_backend_disk(&be, tmp, &o);
        if (!rc) {
            ec_chain_options co = EC_CHAIN_OPTIONS_INIT;
            co.alg = algs[k];
            rc = ec_chain_open(&c, be, &co);
        }
        if (rc) {
            cli_error("import", 1, "creating the chain");
            break;
        }
        struct progress pr = {.f = f, .be = ec_chain_backend(c), .t0 = now_s()};
        struct stat fst;
        int show = isatty(STDERR_FILENO) && isatty(STDOUT_FILENO) && fstat(fileno(f), &fst) == 0 &&
                   fst.st_size > 0;
        if (show) {
            pr.size = fst.st_size;
            pthread_mutex_init(&pr.mu, NULL);
            pthread_cond_init(&pr.cv, NULL);
            show = pthread_create(&pr.th, NULL, progress_main, &pr) == 0;
        }
        rc = ec_import_stream(c, f, name, fmt, 0, NULL);
        if (show) {
            pthread_mutex_lock(&pr.mu);
            pr.stop = 1;
            pthread_cond_signal(&pr.cv);
            pthread_mutex_unlock(&pr.mu);
            pthread_join(pr.th, NULL);
            fputs("\r\033[K", stderr);
        }
        n = ec_chain_count(c);
        if (stop_signal) { /* whatever the library made of the cut input */
            ec_chain_free(c);
            break;
        }
        if (rc == EC_EINVAL && n == 0 && k + 1 < sizeof algs / sizeof algs[0]) {
            ec_chain_free(c);
            continue;
        }
        if (!rc) {
            ec_backend *b = ec_chain_backend(c);
            rc = b->sync ? b->sync(b) : 0;
        }
        if (rc == EC_ENOSPC || rc == EC_EIO) {
            /* the store's advice (reopen the open chain) is for a chain that stays: this one
             * is a temporary directory, removed below */
            const ec_error *e = ec_error_last();
            char what[512];
            snprintf(what, sizeof what, "%s", e ? e->message : "writing failed");
            char *advice = strstr(what, "; the open chain is unusable");
            if (advice)
                *advice = 0;
            cli_error("import", 0,
                      "%s: %s: writing the chain failed after %llu events; nothing was written "
                      "to %s",
                      name, what, (unsigned long long)n, dir);
        } else if (rc) {
            cli_error("import", 1, "refused");
        }
        ec_chain_free(c);
        break;
    }
    if (stop_signal && !rc)
        rc = EC_ERROR;
    stop_in_fd = -1; /* before the close: the number may be reused (nftw, fsync_parent) */
    fclose(f);
    if (!rc && rename(tmp, dir) != 0) {
        cli_error("import", 0, "%s: cannot move the imported chain into place: %s", dir,
                  strerror(errno));
        rc = EC_EIO;
    }
    if (rc) {
        rm_tree(tmp);
        free(tmp);
        stop_end();
        int code = stopped_exit(dir, 0);
        return code >= 0 ? code : cli_exit_code(rc);
    }
    /* From here the chain is complete and in place: a signal now changes nothing. */
    stop_end();
    fsync_parent(dir);
    free(tmp);
    printf("imported %llu events into %s\n", (unsigned long long)n, dir);
    return EXIT_VALID;
}
