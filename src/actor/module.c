/* actor/module.c: from a .wasm file to a loaded module: parse and check it against ABI v1,
 * add fuel (wasm-opt --log-execution), translate (wasm2c), compile (gcc) into a shared object
 * cached by the module's SHA-256, and dlopen it. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "core/internal.h"
#include "actor/actor_int.h"
#include "actor/http.h"

/* The compile flags. Fixed for determinism: no FMA contraction, no fast-math, no
 * -march=native; bounds-checked memory (no signal handler), the same as the host's copy of
 * the runtime. The call-depth limit is the module's own (module_call_depth), passed with
 * -DWASM_RT_MAX_CALL_STACK_DEPTH; the runtime's copy does not use it. Part of the cache key
 * with that limit: changing either recompiles. */
static const char *const cc_flags[] = {"-O2",
                                       "-fPIC",
                                       "-ffp-contract=off",
                                       "-fno-fast-math",
                                       "-w",
                                       "-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0"};
/* v2: the call depth is thread-local (module_prelude); a v1 object names a global.
 * v3: the depth limit is per module and the object exports its largest native frame. */
#define CACHE_KEY_SALT "evchain-abi1-wasm2c-gcc-fuel-v3"

/* The call-depth limit (docs/ABI.md section 1). wasm2c counts frames, not bytes, so the limit
 * is derived from the module alone (deterministic: a replay anywhere traps at the same depth)
 * with a conservative frame of FRAME_BASE + SLOT_BYTES per param and local of its largest
 * function, within DEPTH_BUDGET bytes, and capped at EC_WASM_MAX_CALL_DEPTH. Modules whose
 * functions have up to 180 slots keep the cap. What must stay true: a change to any of these
 * changes recorded limits, so old chains of large-frame modules no longer replay. */
#define FRAME_BASE     256u
#define SLOT_BYTES     16u
#define DEPTH_BUDGET   (6u << 20)
#define MIN_CALL_DEPTH 16u
/* The check on this machine (module_stack_check): the measured largest frame (gcc
 * -fstack-usage) plus FRAME_SLACK, times the limit, plus HOST_RESERVE for the host's own
 * frames (nested executor calls, host calls), must fit the stack of every thread that calls
 * into wasm. */
#define FRAME_SLACK  64u
#define HOST_RESERVE (1u << 20)

static uint32_t module_call_depth(uint64_t max_slots)
{
    uint64_t frame = FRAME_BASE + SLOT_BYTES * max_slots;
    uint64_t n = DEPTH_BUDGET / frame;
    return n > EC_WASM_MAX_CALL_DEPTH ? EC_WASM_MAX_CALL_DEPTH : (uint32_t)n;
}

/* The smallest stack a thread that runs wasm has: the main thread's (RLIMIT_STACK; unlimited
 * grows as needed) and the HTTP server's worker's, set to EC_HTTP_WORKER_STACK when it is
 * created. A program that calls into actors from threads of its own gives them as much. */
static uint64_t thread_stack_budget(void)
{
    uint64_t b = EC_HTTP_WORKER_STACK;
    struct rlimit rl;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < b)
        b = rl.rlim_cur;
    return b;
}

static int module_stack_check(const char *path, uint64_t frame, uint32_t depth)
{
    uint64_t need = (frame + FRAME_SLACK) * depth + HOST_RESERVE, have = thread_stack_budget();
    if (need > have)
        return ec_error_set(EC_EDENIED,
                            "%s: native frames of up to %llu bytes, %u calls deep, need %llu "
                            "bytes of stack; threads here have %llu (ulimit -s): the module's "
                            "functions have too many locals (docs/ABI.md section 1)",
                            path, (unsigned long long)frame, depth, (unsigned long long)need,
                            (unsigned long long)have);
    return 0;
}

/* ---- the host interface, ABI v1 (docs/ABI.md section 2) ---- */

/* Signatures: one letter per wasm value type, i = i32, j = i64; "params>results". */
static const struct abi_import {
    const char *name;
    const char *sig;
} abi_imports[] = {
    {"log", "ii>i"},
    {"actor_id", "ii>i"},
    {"shutdown", "ii>i"},
    {"time_now", ">j"},
    {"timer_set", "ij>i"},
    {"random_get", "ii>i"},
    {"env_get", "iiii>i"},
    {"store_put", "iii>i"},
    {"store_get", "iii>i"},
    {"label_set", "iii>i"},
    {"label_get", "iii>i"},
    {"fs_read", "iiii>i"},
    {"fs_write", "iiii>i"},
    {"fs_list", "iiii>i"},
    {"fs_delete", "ii>i"},
    {"fs_exists", "ii>i"},
    {"msg_send", "iiii>i"},
    {"msg_request", "iiiiii>i"},
    {"msg_reply", "ii>i"},
    {"sup_spawn", "iiiiii>i"},
    {"sup_stop", "ii>i"},
    {"sup_restart", "ii>i"},
    {"sup_list", "ii>i"},
    {"sup_status", "iiii>i"},
    {"http_request", "iiii>i"},
    {"http_respond", "ii>i"},
};

static const struct abi_export {
    const char *name;
    const char *sig;
    unsigned bit;
} abi_exports[] = {
    {"ec_alloc", "i>i", EX_ALLOC},
    {"ec_init", "ii>i", EX_INIT},
    {"ec_handle_message", "ii>i", EX_MESSAGE},
    {"ec_handle_request", "ii>i", EX_REQUEST},
    {"ec_handle_timer", "j>i", EX_TIMER},
    {"ec_handle_child", "iii>i", EX_CHILD},
    {"ec_handle_http", "ii>i", EX_HTTP},
};

/* ---- a strict reader of the parts of the binary format the check needs ---- */

typedef struct wr {
    const uint8_t *p;
    size_t len, off;
    const char *name;
} wr;

static int wfail(wr *r, const char *why)
{
    return ec_error_set(EC_EFORMAT, "%s: byte %zu: %s", r->name, r->off, why);
}

static int wu32(wr *r, uint32_t *out)
{
    uint64_t v = 0;
    *out = 0;
    for (unsigned shift = 0; shift < 35; shift += 7) {
        if (r->off >= r->len)
            return wfail(r, "truncated LEB128 integer");
        uint8_t b = r->p[r->off++];
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (v > UINT32_MAX)
                return wfail(r, "LEB128 integer over 32 bits");
            *out = (uint32_t)v;
            return 0;
        }
    }
    return wfail(r, "LEB128 integer too long");
}

static int wbyte(wr *r, uint8_t *out)
{
    *out = 0;
    if (r->off >= r->len)
        return wfail(r, "truncated");
    *out = r->p[r->off++];
    return 0;
}

static int wname(wr *r, const char **s, uint32_t *n)
{
    int rc = wu32(r, n);
    if (rc)
        return rc;
    if (*n > r->len - r->off)
        return wfail(r, "name runs past the end");
    *s = (const char *)r->p + r->off;
    r->off += *n;
    return 0;
}

#define MAX_TYPES 4096
#define MAX_FUNCS 100000

/* A function type rendered as "params>results" in the letters above ('?' for f32/f64/refs,
 * which no ABI function uses). */
typedef struct {
    char sig[24];
} wsig;

static char valtype_letter(uint8_t t)
{
    return t == 0x7f ? 'i' : t == 0x7e ? 'j' : '?';
}

int ec_wasm_check(const uint8_t *wasm, size_t len, const char *name, int instrumented,
                  ec_wasm_info *info)
{
    wr r = {wasm, len, 0, name};
    int rc = 0;
    wsig *types = NULL;
    uint32_t ntypes = 0, nimported_funcs = 0, nfuncs = 0;
    uint32_t *func_types = NULL, *type_params = NULL;
    int have_memory = 0, memory_exported = 0;
    uint32_t seen = 0;
    memset(info, 0, sizeof *info);
    info->max_pages = UINT32_MAX;
    if (len < 8 || memcmp(wasm, "\0asm", 4) != 0)
        return ec_error_set(EC_EFORMAT, "%s: not a WebAssembly module (bad magic)", name);
    if (memcmp(wasm + 4, "\1\0\0\0", 4) != 0)
        return ec_error_set(EC_EUNSUPPORTED, "%s: unsupported WebAssembly version", name);
    r.off = 8;
    /* Section headers first: the export check needs the type and function sections, which
     * precede it in every valid module (sections come in a fixed order). */
    while (r.off < len) {
        uint8_t id;
        uint32_t size;
        if ((rc = wbyte(&r, &id)) || (rc = wu32(&r, &size)))
            goto out;
        if (size > len - r.off) {
            rc = wfail(&r, "section runs past the end of the module");
            goto out;
        }
        if (id != 0) { /* a repeated section would redefine what was checked */
            if (id > 31 || (seen & (1u << id))) {
                rc = wfail(&r, "section repeated or unknown");
                goto out;
            }
            seen |= 1u << id;
        }
        size_t end = r.off + size;
        wr s = {wasm, end, r.off, name};
        uint32_t n;
        if (id != 0 && id <= 12 && (rc = wu32(&s, &n)))
            goto out;
        if (id == 1) { /* types */
            if (n > MAX_TYPES) {
                rc = wfail(&s, "too many types");
                goto out;
            }
            types = calloc(n ? n : 1, sizeof *types);
            type_params = calloc(n ? n : 1, sizeof *type_params);
            if (!types || !type_params) {
                rc = ec_error_set(EC_ENOMEM, "%s: out of memory", name);
                goto out;
            }
            ntypes = n;
            for (uint32_t k = 0; k < n; k++) {
                uint8_t form;
                size_t w = 0;
                if ((rc = wbyte(&s, &form)))
                    goto out;
                if (form != 0x60) {
                    rc = wfail(&s, "type is not a function type");
                    goto out;
                }
                for (int part = 0; part < 2; part++) {
                    uint32_t cnt;
                    if ((rc = wu32(&s, &cnt)))
                        goto out;
                    if (part == 0)
                        type_params[k] = cnt;
                    for (uint32_t q = 0; q < cnt; q++) {
                        uint8_t t;
                        if ((rc = wbyte(&s, &t)))
                            goto out;
                        if (w < sizeof types[k].sig - 2)
                            types[k].sig[w++] = valtype_letter(t);
                    }
                    if (part == 0)
                        types[k].sig[w++] = '>';
                }
                types[k].sig[w] = 0;
            }
        } else if (id == 2) { /* imports */
            for (uint32_t k = 0; k < n; k++) {
                const char *mod = NULL, *field = NULL;
                uint32_t ml, fl, idx;
                uint8_t kind;
                if ((rc = wname(&s, &mod, &ml)) || (rc = wname(&s, &field, &fl)) ||
                    (rc = wbyte(&s, &kind)))
                    goto out;
                if (kind != 0) {
                    rc = ec_error_set(EC_EUNSUPPORTED,
                                      "%s: import %.*s.%.*s is a %s; ABI v1 imports only "
                                      "functions (the module must define its own memory)",
                                      name, (int)ml, mod, (int)fl, field,
                                      kind == 1   ? "table"
                                      : kind == 2 ? "memory"
                                      : kind == 3 ? "global"
                                                  : "tag");
                    goto out;
                }
                if ((rc = wu32(&s, &idx)))
                    goto out;
                if (idx >= ntypes) {
                    rc = wfail(&s, "import names a type that does not exist");
                    goto out;
                }
                const char *want = NULL;
                int reserved = ml == 3 && memcmp(mod, "env", 3) == 0 && fl == 13 &&
                               memcmp(field, "log_execution", 13) == 0;
                if (reserved) {
                    if (!instrumented) {
                        rc = ec_error_set(EC_EDENIED,
                                          "%s: import env.log_execution is reserved for the "
                                          "runtime's fuel counter",
                                          name);
                        goto out;
                    }
                    want = "i>";
                } else if (ml == 3 && memcmp(mod, "env", 3) == 0) {
                    for (size_t q = 0; q < sizeof abi_imports / sizeof abi_imports[0]; q++)
                        if (strlen(abi_imports[q].name) == fl &&
                            memcmp(abi_imports[q].name, field, fl) == 0)
                            want = abi_imports[q].sig;
                }
                if (!want) {
                    rc = ec_error_set(EC_EUNSUPPORTED,
                                      "%s: import %.*s.%.*s (%s) is not in the host "
                                      "interface (ABI v%d, docs/ABI.md)",
                                      name, (int)ml, mod, (int)fl, field, types[idx].sig,
                                      EC_ABI_VERSION);
                    goto out;
                }
                if (strcmp(want, types[idx].sig) != 0) {
                    rc = ec_error_set(EC_EUNSUPPORTED,
                                      "%s: import env.%.*s has type %s, ABI v%d says %s", name,
                                      (int)fl, field, types[idx].sig, EC_ABI_VERSION, want);
                    goto out;
                }
                nimported_funcs++;
            }
        } else if (id == 3) { /* function declarations */
            if (n > MAX_FUNCS) {
                rc = wfail(&s, "too many functions");
                goto out;
            }
            nfuncs = n;
            func_types = calloc(n ? n : 1, sizeof *func_types);
            if (!func_types) {
                rc = ec_error_set(EC_ENOMEM, "%s: out of memory", name);
                goto out;
            }
            for (uint32_t k = 0; k < n; k++)
                if ((rc = wu32(&s, &func_types[k])))
                    goto out;
                else if (func_types[k] >= ntypes) {
                    rc = wfail(&s, "function names a type that does not exist");
                    goto out;
                }
        } else if (id == 8) { /* start */
            /* A start function runs inside instantiation, before the actor exists for the
             * executor: no wasm/call records it, no fuel or trap guard covers it. */
            rc = ec_error_set(EC_EUNSUPPORTED,
                              "%s: the module has a start section (section 8, function %u); "
                              "ABI v1 refuses it: do that work in ec_init (docs/ABI.md "
                              "section 1)",
                              name, n);
            goto out;
        } else if (id == 10) { /* code: each function's frame, for the call-depth limit */
            if (n != nfuncs) {
                rc = wfail(&s, "code section and function section disagree");
                goto out;
            }
            for (uint32_t k = 0; k < n; k++) {
                uint32_t body, groups;
                if ((rc = wu32(&s, &body)))
                    goto out;
                if (body > s.len - s.off) {
                    rc = wfail(&s, "function body runs past its section");
                    goto out;
                }
                size_t body_end = s.off + body;
                wr f = {wasm, body_end, s.off, name};
                uint64_t slots = type_params[func_types[k]];
                if ((rc = wu32(&f, &groups)))
                    goto out;
                for (uint32_t g = 0; g < groups; g++) {
                    uint32_t cnt;
                    uint8_t t;
                    if ((rc = wu32(&f, &cnt)) || (rc = wbyte(&f, &t)))
                        goto out;
                    slots += cnt;
                }
                if (slots > info->max_slots) {
                    info->max_slots = slots;
                    info->max_slots_func = nimported_funcs + k;
                }
                s.off = body_end;
            }
        } else if (id == 5) { /* memories */
            if (n != 1) {
                rc = ec_error_set(EC_EUNSUPPORTED, "%s: %u memories; ABI v1 needs exactly one",
                                  name, n);
                goto out;
            }
            uint8_t flags;
            if ((rc = wbyte(&s, &flags)) || (rc = wu32(&s, &info->initial_pages)))
                goto out;
            if (flags & ~1u) {
                rc = ec_error_set(EC_EUNSUPPORTED, "%s: shared or 64-bit memory", name);
                goto out;
            }
            if ((flags & 1) && (rc = wu32(&s, &info->max_pages)))
                goto out;
            have_memory = 1;
        } else if (id == 7) { /* exports */
            for (uint32_t k = 0; k < n; k++) {
                const char *en = NULL;
                uint32_t el, idx;
                uint8_t kind;
                if ((rc = wname(&s, &en, &el)) || (rc = wbyte(&s, &kind)) || (rc = wu32(&s, &idx)))
                    goto out;
                if (kind == 2 && el == 6 && memcmp(en, "memory", 6) == 0)
                    memory_exported = 1;
                if (kind != 0)
                    continue;
                for (size_t q = 0; q < sizeof abi_exports / sizeof abi_exports[0]; q++) {
                    if (strlen(abi_exports[q].name) != el ||
                        memcmp(abi_exports[q].name, en, el) != 0)
                        continue;
                    if (idx < nimported_funcs || idx - nimported_funcs >= nfuncs) {
                        rc = wfail(&s, "export names a function that does not exist");
                        goto out;
                    }
                    const char *got = types[func_types[idx - nimported_funcs]].sig;
                    if (strcmp(got, abi_exports[q].sig) != 0) {
                        rc = ec_error_set(
                            EC_EUNSUPPORTED, "%s: export %s has type %s, ABI v%d says %s", name,
                            abi_exports[q].name, got, EC_ABI_VERSION, abi_exports[q].sig);
                        goto out;
                    }
                    info->exports |= abi_exports[q].bit;
                }
            }
        }
        r.off = end;
    }
    if (!have_memory || !memory_exported) {
        rc =
            ec_error_set(EC_EUNSUPPORTED, "%s: the module must define and export \"memory\"", name);
        goto out;
    }
    if ((info->exports & (EX_INIT | EX_MESSAGE | EX_REQUEST | EX_CHILD | EX_HTTP)) &&
        !(info->exports & EX_ALLOC)) {
        rc = ec_error_set(EC_EUNSUPPORTED,
                          "%s: handlers that take input need the export ec_alloc(i32)->i32", name);
        goto out;
    }
out:
    free(types);
    free(type_params);
    free(func_types);
    return rc;
}

/* ---- the toolchain ---- */

static int read_file(const char *path, uint8_t **out, size_t *len)
{
    /* O_NONBLOCK: a FIFO (in the cache, say) is refused below instead of waited on. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return ec_error_set_errno(errno == ENOENT ? EC_ENOTFOUND : EC_EIO, errno, "%s", path);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ec_error_set(EC_EINVAL, "%s: not a regular file", path);
    }
    if (st.st_size > (64 << 20)) {
        close(fd);
        return ec_error_set(EC_EDENIED, "%s: module larger than 64 MiB", path);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *p = malloc(n ? n : 1);
    if (!p) {
        close(fd);
        return ec_error_set(EC_ENOMEM, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, p + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            int e = k < 0 ? errno : EIO;
            free(p);
            close(fd);
            return ec_error_set_errno(EC_EIO, e, "%s: read", path);
        }
        got += (size_t)k;
    }
    close(fd);
    *out = p;
    *len = n;
    return 0;
}

static int write_all(const char *path, const void *data, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return ec_error_set_errno(EC_EIO, errno, "%s", path);
    const uint8_t *p = data;
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0) {
            int e = errno;
            close(fd);
            return ec_error_set_errno(EC_EIO, e, "%s: write", path);
        }
        p += k;
        n -= (size_t)k;
    }
    if (close(fd) != 0)
        return ec_error_set_errno(EC_EIO, errno, "%s: close", path);
    return 0;
}

/* Run a tool with its output in log; on failure the error quotes the end of the log. */
static int run_tool(const char *const *argv, const char *log, const char *what)
{
    pid_t pid = fork();
    if (pid < 0)
        return ec_error_set_errno(EC_EIO, errno, "%s: fork", what);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(argv[0], (char *const *)argv);
        dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return ec_error_set_errno(EC_EIO, errno, "%s: waitpid", what);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    char tail[600] = "";
    int fd = open(log, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        off_t end = lseek(fd, 0, SEEK_END);
        off_t from = end > (off_t)sizeof tail - 1 ? end - (off_t)sizeof tail + 1 : 0;
        ssize_t k = pread(fd, tail, sizeof tail - 1, from);
        tail[k > 0 ? k : 0] = 0;
        close(fd);
        for (char *c = tail; *c; c++)
            if (*c == '\n')
                *c = ' ';
    }
    return ec_error_set(EC_ERROR, "%s: %s failed (%s %d): %s", what, argv[0],
                        WIFEXITED(status) ? "exit" : "signal",
                        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), tail);
}

static int mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf)
        return ec_error_set(EC_EINVAL, "%s: path too long", path);
    memcpy(buf, path, n + 1);
    for (size_t k = 1; k <= n; k++) {
        if (buf[k] == '/' || buf[k] == 0) {
            char c = buf[k];
            buf[k] = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return ec_error_set_errno(EC_EIO, errno, "mkdir %s", buf);
            buf[k] = c;
        }
    }
    return 0;
}

int ec_mkdir_p(const char *path)
{
    return mkdir_p(path);
}

/* ---- the module cache's modes (docs/ABI.md section 7, "The cache is checked") ----
 * What the cache holds is code this process runs (dlopen), loaded as found: like ssh's
 * StrictModes, a cache directory or compiled object that another account could have written
 * is refused, not used. Owned by this user (or root) and writable by nobody else: then only
 * this user (or root) could have put or changed what is in it. The directory is checked
 * before anything in it is read or made, which is what keeps an object found there from
 * being swapped between its own check and its dlopen (nobody else can rename into it). */

/* Why st is not safe to trust (into why), or 0 when it is. */
static int cache_unsafe(const struct stat *st, char *why, size_t n)
{
    uid_t me = geteuid();
    if (st->st_uid != me && st->st_uid != 0) {
        snprintf(why, n, "owned by uid %u, not by this user (uid %u)", (unsigned)st->st_uid,
                 (unsigned)me);
        return 1;
    }
    mode_t w = st->st_mode & (S_IWGRP | S_IWOTH);
    if (w) {
        snprintf(why, n, "writable by %s (mode %04o)",
                 w == (S_IWGRP | S_IWOTH) ? "its group and others"
                 : w == S_IWGRP           ? "its group"
                                          : "others",
                 (unsigned)(st->st_mode & 07777));
        return 2;
    }
    return 0;
}

int ec_cache_dir_check(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            return 0; /* made private when first needed (ec_cache_dir_make) */
        return ec_error_set_errno(EC_EIO, errno, "module cache %s", dir);
    }
    if (!S_ISDIR(st.st_mode))
        return ec_error_set(EC_EDENIED, "module cache %s: not a directory", dir);
    char why[128];
    int k = cache_unsafe(&st, why, sizeof why);
    if (k)
        return ec_error_set(EC_EDENIED,
                            "module cache %s: the directory is %s: refused, anyone who can "
                            "write it could replace the compiled modules this runtime loads "
                            "(%s, or use another --cache DIR)",
                            dir, why,
                            k == 1 ? "use a cache directory of your own" : "chmod go-w it");
    return 0;
}

int ec_cache_dir_make(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        /* The parents as any data directory's (0755 less the umask), the cache itself 0700:
         * nobody else has anything to do in it. */
        char parent[4096];
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/')
            n--;
        if (n >= sizeof parent)
            return ec_error_set(EC_EINVAL, "%s: path too long", dir);
        memcpy(parent, dir, n);
        parent[n] = 0;
        char *sl = strrchr(parent, '/');
        int rc = 0;
        if (sl && sl != parent) {
            *sl = 0;
            rc = mkdir_p(parent);
        }
        if (rc)
            return rc;
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            return ec_error_set_errno(EC_EIO, errno, "mkdir %s", dir);
    }
    return ec_cache_dir_check(dir);
}

/* The compiled object so: *found 0 when there is none (it is to be compiled), 1 when it may
 * be loaded; an error naming it when it is there but not to be trusted (the callers name
 * the module). */
static int cache_object_check(const char *so, int *found)
{
    struct stat st;
    *found = 0;
    if (lstat(so, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        return ec_error_set_errno(EC_EIO, errno, "compiled module %s", so);
    }
    char why[128];
    if (!S_ISREG(st.st_mode))
        snprintf(why, sizeof why, "not a regular file (the runtime only ever writes one)");
    else if (!cache_unsafe(&st, why, sizeof why)) {
        *found = 1;
        return 0;
    }
    return ec_error_set(EC_EDENIED,
                        "compiled module %s is %s: refused, it could have been replaced "
                        "(remove it: the module is compiled again)",
                        so, why);
}

/* Into top: the first of path and its ancestors that does not exist (the top of what an
 * ec_mkdir_p(path) would make, for a refused operation to take back), or "" when path does. */
void ec_path_first_missing(const char *path, char *top, size_t cap)
{
    char p[4400];
    struct stat st;
    top[0] = 0;
    snprintf(p, sizeof p, "%s", path);
    for (;;) {
        size_t n = strlen(p);
        while (n > 1 && p[n - 1] == '/')
            p[--n] = 0;
        if (n == 0 || stat(p, &st) == 0)
            return;
        snprintf(top, cap, "%s", p);
        char *sl = strrchr(p, '/');
        if (!sl || sl == p)
            return; /* a relative path's first component: made in the current directory */
        *sl = 0;
    }
}

/* Remove the empty directories from path up to top (both included), the ones a refused
 * operation made: rmdir only, so nothing anyone else put there meanwhile is touched. */
void ec_rmdir_up(const char *path, const char *top)
{
    char p[4400];
    if (!top[0])
        return;
    snprintf(p, sizeof p, "%s", path);
    for (;;) {
        size_t n = strlen(p);
        while (n > 1 && p[n - 1] == '/')
            p[--n] = 0;
        if (rmdir(p) != 0 || strcmp(p, top) == 0)
            return;
        char *sl = strrchr(p, '/');
        if (!sl || sl == p)
            return;
        *sl = 0;
    }
}

static void rm_tree_flat(const char *dir)
{
    static const char *const names[] = {"in.wasm", "fuel.wasm", "actor.c", "actor.h",
                                        "glue.c",  "out.so",    "log",     "prelude.h",
                                        "actor.o", "actor.su",  "glue.su"};
    char p[4200];
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        if (snprintf(p, sizeof p, "%s/%s", dir, names[k]) < (int)sizeof p)
            unlink(p);
    }
    rmdir(dir);
}

/* Glue compiled into every .so: the host cannot know sizeof(instance) otherwise, nor the
 * depth limit it was compiled with and its largest native frame (measured, -fstack-usage). */
static const char glue_src[] = "#include \"actor.h\"\n"
                               "const unsigned long ec_actor_instance_size = "
                               "sizeof(Z_actor_instance_t);\n"
                               "const unsigned long ec_actor_call_depth = EC_CALL_DEPTH;\n"
                               "const unsigned long ec_actor_max_frame = EC_MAX_FRAME;\n";

/* The largest frame in gcc's -fstack-usage output ("file:line:col:function<TAB>bytes<TAB>
 * static|dynamic|dynamic,bounded"). A frame gcc cannot bound (alloca, a VLA: never in wasm2c
 * output) refuses the module, as would a file without any line. */
static int max_stack_usage(const char *su, const char *name, uint64_t *out)
{
    FILE *f = fopen(su, "re");
    if (!f)
        return ec_error_set_errno(EC_EIO, errno, "%s: %s", name, su);
    char line[4096];
    uint64_t max = 0;
    int lines = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        char *t1 = strchr(line, '\t'), *end;
        if (!t1)
            continue;
        unsigned long long v = strtoull(t1 + 1, &end, 10);
        if (end == t1 + 1 || *end != '\t' ||
            (strncmp(end + 1, "static", 6) != 0 && strncmp(end + 1, "dynamic,bounded", 15) != 0)) {
            rc = ec_error_set(EC_EDENIED, "%s: unbounded native frame (%s)", name, line);
            break;
        }
        if (v > max)
            max = v;
        lines++;
    }
    fclose(f);
    if (rc == 0 && lines == 0)
        rc = ec_error_set(EC_ERROR, "%s: no stack usage in %s", name, su);
    *out = max;
    return rc;
}

/* Included before the generated code: the call depth the prologues count is the host's
 * thread-local one (actor/wasm_tls.h defines the same variable for the host; the two must
 * agree, or the object fails to load with an undefined symbol). */
static const char module_prelude[] =
    "#include <stdint.h>\n"
    "extern __thread uint32_t ec_wasm_depth_tls __attribute__((tls_model(\"initial-exec\")));\n"
    "static inline uint32_t *ec_wasm_depth(void) { return &ec_wasm_depth_tls; }\n"
    "#define wasm_rt_call_stack_depth (*ec_wasm_depth())\n";

static int compile_module(ec_runtime *rt, const uint8_t *wasm, size_t len, const char *name,
                          uint32_t depth, const char *so_path)
{
    char tmp[4200], in[4300], fuel[4300], csrc[4300], glue[4300], out[4300], log[4300], pre[4300];
    char obj[4300], su[4300], ddepth[64], dframe[64], dcall[64];
    int rc = ec_cache_dir_make(rt->cache_dir);
    if (rc)
        return rc;
    snprintf(tmp, sizeof tmp, "%s/tmp.XXXXXX", rt->cache_dir);
    if (!mkdtemp(tmp))
        return ec_error_set_errno(EC_EIO, errno, "%s: mkdtemp", tmp);
    snprintf(in, sizeof in, "%s/in.wasm", tmp);
    snprintf(fuel, sizeof fuel, "%s/fuel.wasm", tmp);
    snprintf(csrc, sizeof csrc, "%s/actor.c", tmp);
    snprintf(glue, sizeof glue, "%s/glue.c", tmp);
    snprintf(pre, sizeof pre, "%s/prelude.h", tmp);
    snprintf(out, sizeof out, "%s/out.so", tmp);
    snprintf(log, sizeof log, "%s/log", tmp);
    snprintf(obj, sizeof obj, "%s/actor.o", tmp);
    snprintf(su, sizeof su, "%s/actor.su", tmp);
    snprintf(ddepth, sizeof ddepth, "-DWASM_RT_MAX_CALL_STACK_DEPTH=%u", depth);
    snprintf(dcall, sizeof dcall, "-DEC_CALL_DEPTH=%u", depth);
    if ((rc = write_all(in, wasm, len)) || (rc = write_all(glue, glue_src, strlen(glue_src))) ||
        (rc = write_all(pre, module_prelude, strlen(module_prelude))))
        goto done;
    {
        /* Fuel: a call to env.log_execution at every function entry and loop head. */
        const char *opt[] = {"wasm-opt", in, "--log-execution", "-o", fuel, NULL};
        if ((rc = run_tool(opt, log, name)))
            goto done;
        uint8_t *fw = NULL;
        size_t fl = 0;
        ec_wasm_info info;
        if ((rc = read_file(fuel, &fw, &fl)))
            goto done;
        rc = ec_wasm_check(fw, fl, name, 1, &info);
        free(fw);
        if (rc)
            goto done;
    }
    {
        const char *w2c[] = {"wasm2c", fuel, "-n", "actor", "-o", csrc, NULL};
        if ((rc = run_tool(w2c, log, name)))
            goto done;
    }
    {
        /* The module's code alone first, to measure its frames (actor.su beside actor.o). */
        const char *cc[32];
        size_t k = 0;
        cc[k++] = "gcc";
        for (size_t q = 0; q < sizeof cc_flags / sizeof cc_flags[0]; q++)
            cc[k++] = cc_flags[q];
        cc[k++] = ddepth;
        cc[k++] = "-fstack-usage";
        cc[k++] = "-include";
        cc[k++] = pre;
        cc[k++] = "-I";
        cc[k++] = tmp;
        cc[k++] = "-c";
        cc[k++] = csrc;
        cc[k++] = "-o";
        cc[k++] = obj;
        cc[k] = NULL;
        if ((rc = run_tool(cc, log, name)))
            goto done;
    }
    {
        uint64_t frame = 0;
        if ((rc = max_stack_usage(su, name, &frame)) ||
            (rc = module_stack_check(name, frame, depth)))
            goto done;
        snprintf(dframe, sizeof dframe, "-DEC_MAX_FRAME=%llu", (unsigned long long)frame);
        const char *cc[32];
        size_t k = 0;
        cc[k++] = "gcc";
        for (size_t q = 0; q < sizeof cc_flags / sizeof cc_flags[0]; q++)
            cc[k++] = cc_flags[q];
        cc[k++] = "-shared";
        cc[k++] = ddepth;
        cc[k++] = dcall;
        cc[k++] = dframe;
        cc[k++] = "-include";
        cc[k++] = pre;
        cc[k++] = "-I";
        cc[k++] = tmp;
        cc[k++] = glue;
        cc[k++] = obj;
        cc[k++] = "-o";
        cc[k++] = out;
        cc[k] = NULL;
        if ((rc = run_tool(cc, log, name)))
            goto done;
    }
    /* Writable by this user only, whatever the umask gave the linker's output: a cached
     * object writable by others is refused (cache_object_check). */
    struct stat ost;
    if (stat(out, &ost) != 0 || chmod(out, ost.st_mode & 0755) != 0) {
        rc = ec_error_set_errno(EC_EIO, errno, "%s: chmod", out);
        goto done;
    }
    /* Publish atomically: concurrent runtimes sharing a cache see either no file or a whole
     * one; the loser of a race renames an identical file over it. */
    if (rename(out, so_path) != 0)
        rc = ec_error_set_errno(EC_EIO, errno, "%s: rename into the cache", so_path);
done:
    rm_tree_flat(tmp);
    return rc;
}

static void cache_key(const uint8_t sha[32], uint32_t depth, char out[200])
{
    uint8_t d[32];
    unsigned dl = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL)) {
        EVP_DigestUpdate(c, CACHE_KEY_SALT, strlen(CACHE_KEY_SALT));
        for (size_t q = 0; q < sizeof cc_flags / sizeof cc_flags[0]; q++)
            EVP_DigestUpdate(c, cc_flags[q], strlen(cc_flags[q]) + 1);
        /* A function of the module's bytes today; in the key all the same, so that a change
         * of the rule can never reuse an object compiled under the old one. */
        char dd[64];
        snprintf(dd, sizeof dd, "-DWASM_RT_MAX_CALL_STACK_DEPTH=%u", depth);
        EVP_DigestUpdate(c, dd, strlen(dd) + 1);
        EVP_DigestFinal_ex(c, d, &dl);
    }
    EVP_MD_CTX_free(c);
    char hs[65], hf[65];
    ec_hex_encode(hs, sha, 32);
    ec_hex_encode(hf, d, 8);
    snprintf(out, 200, "%s-%s.so", hs, hf);
}

static void *sym(void *dl, const char *name)
{
    return dlsym(dl, name);
}

int ec_module_load(ec_runtime *rt, const char *path, ec_module **out, int *compiled)
{
    return ec_module_load_as(rt, path, NULL, 0, out, compiled);
}

/* A replay's module must be the one its chain was recorded with, and run under the same
 * call depth: checked before it is compiled, so that a refused replay or recovery has
 * written nothing into the cache. */
static int want_depth_ok(uint64_t want_depth, uint32_t depth)
{
    if (want_depth == depth)
        return 0;
    /* The limit is the module's own, derived from its bytes: a different one means a runtime
     * with another rule, under which the actor could behave differently. */
    return ec_error_set(EC_EUNSUPPORTED,
                        "replay: the chain was recorded with a call depth of %llu, this runtime "
                        "gives the module %u: the actor could behave differently",
                        (unsigned long long)want_depth, depth);
}

int ec_module_load_as(ec_runtime *rt, const char *path, const uint8_t *want_sha,
                      uint64_t want_depth, ec_module **out, int *compiled)
{
    uint8_t *wasm = NULL;
    size_t len = 0;
    ec_wasm_info info;
    if (compiled)
        *compiled = 0;
    int rc = read_file(path, &wasm, &len);
    if (rc)
        return rc;
    uint8_t sha[32];
    unsigned dl = 0;
    if (!EVP_Digest(wasm, len, sha, &dl, EVP_sha256(), NULL)) {
        free(wasm);
        return ec_error_set(EC_ERROR, "%s: SHA-256 failed", path);
    }
    if (want_sha && memcmp(sha, want_sha, 32) != 0) {
        char have[65], want[65];
        ec_hex_encode(have, sha, 32);
        ec_hex_encode(want, want_sha, 32);
        free(wasm);
        return ec_error_set(EC_EDENIED,
                            "replay: module %s has SHA-256 %s, the chain was recorded with %s",
                            path, have, want);
    }
    for (ec_module *m = rt->modules; m; m = m->next)
        if (memcmp(m->sha, sha, 32) == 0) {
            free(wasm);
            if (want_sha && (rc = want_depth_ok(want_depth, m->call_depth)))
                return rc;
            m->refs++;
            *out = m;
            return 0;
        }
    if ((rc = ec_wasm_check(wasm, len, path, 0, &info))) {
        free(wasm);
        return rc;
    }
    if (info.initial_pages > rt->memory_pages) {
        free(wasm);
        return ec_error_set(EC_EDENIED,
                            "%s: module asks for %u pages of memory at start; the cap is %u", path,
                            info.initial_pages, rt->memory_pages);
    }
    uint32_t depth = module_call_depth(info.max_slots);
    if (depth < MIN_CALL_DEPTH) {
        free(wasm);
        return ec_error_set(EC_EUNSUPPORTED,
                            "%s: function %u has %llu params and locals; ABI v1 allows frames "
                            "that leave at least %u calls of depth (docs/ABI.md section 1)",
                            path, info.max_slots_func, (unsigned long long)info.max_slots,
                            MIN_CALL_DEPTH);
    }
    if (want_sha && (rc = want_depth_ok(want_depth, depth))) {
        free(wasm);
        return rc;
    }
    char key[200], so[4400];
    cache_key(sha, depth, key);
    snprintf(so, sizeof so, "%s/%s", rt->cache_dir, key);
    int found = 0;
    if ((rc = ec_cache_dir_check(rt->cache_dir)) || (rc = cache_object_check(so, &found))) {
        free(wasm);
        return rc;
    }
    if (!found) {
        rc = compile_module(rt, wasm, len, path, depth, so);
        if (rc) {
            free(wasm);
            return rc;
        }
        if (compiled)
            *compiled = 1;
    }
    ec_module_keep_wasm(rt, sha, wasm, len);
    free(wasm);
    ec_module *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path))) {
        free(m);
        return ec_error_set(EC_ENOMEM, "%s: out of memory", path);
    }
    memcpy(m->sha, sha, 32);
    ec_hex_encode(m->hex, sha, 32);
    m->initial_pages = info.initial_pages;
    m->max_pages = info.max_pages;
    /* RTLD_LOCAL: two modules' identical symbol names never meet. RTLD_NOW: a missing host
     * symbol fails here, not at the first call. */
    m->dl = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (!m->dl) {
        rc = ec_error_set(EC_ERROR, "%s: loading compiled module %s: %s", path, so, dlerror());
        free(m->path);
        free(m);
        return rc;
    }
    const unsigned long *size = sym(m->dl, "ec_actor_instance_size");
    const unsigned long *so_depth = sym(m->dl, "ec_actor_call_depth");
    const unsigned long *so_frame = sym(m->dl, "ec_actor_max_frame");
    void (*init_module)(void) = (void (*)(void))sym(m->dl, "Z_actor_init_module");
    m->instantiate = (void (*)(void *, void *))sym(m->dl, "Z_actor_instantiate");
    m->free_inst = (void (*)(void *))sym(m->dl, "Z_actor_free");
    m->memory = (wasm_rt_memory_t * (*)(void *)) sym(m->dl, "Z_actorZ_memory");
    if (!size || !init_module || !m->instantiate || !m->free_inst || !m->memory) {
        dlclose(m->dl);
        free(m->path);
        free(m);
        return ec_error_set(EC_EFORMAT, "%s: compiled module %s lacks the wasm2c entry points",
                            path, so);
    }
    /* A cached object is checked here too: compiled for this limit, and its frames fit the
     * stacks of this machine (whose ulimit may differ from the one it was compiled under). */
    if (!so_depth || !so_frame || *so_depth != depth ||
        (rc = module_stack_check(path, *so_frame, depth))) {
        if (!so_depth || !so_frame || *so_depth != depth)
            rc = ec_error_set(EC_EFORMAT, "%s: compiled module %s is not for call depth %u", path,
                              so, depth);
        dlclose(m->dl);
        free(m->path);
        free(m);
        return rc;
    }
    m->call_depth = depth;
    m->inst_size = *size;
    if (info.exports & EX_ALLOC)
        m->ex_alloc = (uint32_t(*)(void *, uint32_t))sym(m->dl, "Z_actorZ_ec_alloc");
    if (info.exports & EX_INIT)
        m->ex_init = (uint32_t(*)(void *, uint32_t, uint32_t))sym(m->dl, "Z_actorZ_ec_init");
    if (info.exports & EX_MESSAGE)
        m->ex_message =
            (uint32_t(*)(void *, uint32_t, uint32_t))sym(m->dl, "Z_actorZ_ec_handle_message");
    if (info.exports & EX_REQUEST)
        m->ex_request =
            (uint32_t(*)(void *, uint32_t, uint32_t))sym(m->dl, "Z_actorZ_ec_handle_request");
    if (info.exports & EX_TIMER)
        m->ex_timer = (uint32_t(*)(void *, uint64_t))sym(m->dl, "Z_actorZ_ec_handle_timer");
    if (info.exports & EX_CHILD)
        m->ex_child = (uint32_t(*)(void *, uint32_t, uint32_t, uint32_t))sym(
            m->dl, "Z_actorZ_ec_handle_child");
    if (info.exports & EX_HTTP)
        m->ex_http = (uint32_t(*)(void *, uint32_t, uint32_t))sym(m->dl, "Z_actorZ_ec_handle_http");
    init_module();
    m->refs = 1;
    m->next = rt->modules;
    rt->modules = m;
    *out = m;
    return 0;
}

int ec_module_cache_path(const ec_runtime *rt, const ec_module *m, char *out, size_t n)
{
    char key[200];
    cache_key(m->sha, m->call_depth, key);
    int w = snprintf(out, n, "%s/%s", rt->cache_dir, key);
    return w < 0 || (size_t)w >= n ? ec_error_set(EC_EINVAL, "%s: path too long", rt->cache_dir)
                                   : 0;
}

void ec_module_release(ec_runtime *rt, ec_module *m)
{
    (void)rt;
    if (m)
        m->refs--; /* unloaded with the runtime: a later spawn of it needs no dlopen */
}

void ec_module_free_all(ec_runtime *rt)
{
    ec_module *m = rt->modules;
    while (m) {
        ec_module *n = m->next;
        dlclose(m->dl);
        free(m->path);
        free(m);
        m = n;
    }
    rt->modules = NULL;
}

int ec_runtime_prepare(ec_runtime *rt, const char *module_path, int *compiled_out)
{
    ec_module *m;
    int rc = ec_module_load(rt, module_path, &m, compiled_out);
    if (rc == 0)
        ec_module_release(rt, m);
    return rc;
}
