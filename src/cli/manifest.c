/* cli/manifest.c: the manifest of `evchain run --manifest`, parsed and checked in full before
 * the runtime starts: a manifest that fails at its third actor must not leave the first two
 * started, their chains in the data directory (a rerun would then find them there). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <evchain/evchain.h>

#include "cli.h"
#include "manifest.h"

#define MODULE_PATH_MAX 4096

typedef struct ctx {
    const char *path;
    char *err;
    size_t cap;
} ctx;

static int fail(ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(ctx *c, const char *fmt, ...)
{
    int n = snprintf(c->err, c->cap, "%s: ", c->path);
    if (n >= 0 && (size_t)n < c->cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->cap - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Every key of obj is one of the NULL-terminated names: a misspelt key is an error, not a
 * setting silently left at its default. */
static int known_keys(ctx *c, json_t *obj, const char *where, const char *const *names)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        size_t k = 0;
        while (names[k] && strcmp(names[k], key) != 0)
            k++;
        if (!names[k]) {
            char list[128] = "";
            for (k = 0; names[k]; k++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "",
                         names[k]);
            return fail(c, "%s: unknown key \"%s\" (known: %s)", where, key, list);
        }
    }
    return 0;
}

/* The string at key of obj (NULL when absent), non-empty unless may_be_empty. Strings hold
 * no NUL byte: the document is loaded without JSON_ALLOW_NUL, which refuses \u0000. */
static int get_string(ctx *c, json_t *obj, const char *key, const char *where, int required,
                      int may_be_empty, const char **out, size_t *len_out)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v) {
        if (required)
            return fail(c, "%s: needs \"%s\", a string", where, key);
        return 0;
    }
    if (!json_is_string(v))
        return fail(c, "%s.%s: not a string", where, key);
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (!n && !may_be_empty)
        return fail(c, "%s.%s: empty", where, key);
    *out = s;
    if (len_out)
        *len_out = n;
    return 0;
}

/* A list of at most CLI_MANIFEST_LIST non-empty strings (without '=' when no_eq). */
static int get_list(ctx *c, json_t *arr, const char *where, int no_eq, const char **out,
                    size_t *n_out)
{
    if (!json_is_array(arr) || json_array_size(arr) > CLI_MANIFEST_LIST)
        return fail(c, "%s: needs an array of at most %d strings", where, CLI_MANIFEST_LIST);
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        if (!s || !*s || (no_eq && strchr(s, '=')))
            return fail(c, "%s[%zu]: not a non-empty %sstring", where, i,
                        no_eq ? "name (no '=') " : "");
        out[i] = s;
    }
    *n_out = json_array_size(arr);
    return 0;
}

static int parse_actor(ctx *c, json_t *a, size_t i, const char *dir, cli_manifest_actor *out)
{
    static const char *const keys[] = {"id", "module", "args", "env", "http", NULL};
    char where[48];
    snprintf(where, sizeof where, "actors[%zu]", i);
    if (!json_is_object(a))
        return fail(c, "%s: not an object", where);
    const char *mod;
    if (known_keys(c, a, where, keys) || get_string(c, a, "id", where, 1, 0, &out->id, NULL) ||
        get_string(c, a, "module", where, 1, 0, &mod, NULL) ||
        get_string(c, a, "args", where, 0, 1, &out->args, &out->args_len) ||
        get_string(c, a, "http", where, 0, 0, &out->http, NULL))
        return -1;
    if (!ec_actor_id_valid(out->id, strlen(out->id)))
        return fail(c,
                    "%s.id: \"%s\" is not an actor id (1 to 64 of A-Z a-z 0-9 _ - ., not "
                    "starting with '.')",
                    where, out->id);
    json_t *env = json_object_get(a, "env");
    char ew[64];
    snprintf(ew, sizeof ew, "%s.env", where);
    if (env && get_list(c, env, ew, 1, out->env, &out->nenv))
        return -1;
    if (out->http) {
        char addr[128];
        unsigned port;
        unsigned char bin[16];
        if (cli_parse_listen(out->http, addr, sizeof addr, &port) ||
            (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1))
            return fail(c,
                        "%s.http: \"%s\" is not ADDR:PORT with an IP address (e.g. "
                        "127.0.0.1:8080, [::1]:8080)",
                        where, out->http);
    }
    size_t ml = strlen(mod), dl = strlen(dir);
    if (ml + dl + 2 > MODULE_PATH_MAX)
        return fail(c, "%s.module: path too long", where);
    out->module = malloc(ml + dl + 2);
    if (!out->module)
        return fail(c, "out of memory");
    if (mod[0] == '/')
        memcpy(out->module, mod, ml + 1);
    else
        snprintf(out->module, ml + dl + 2, "%s/%s", dir, mod);
    return 0;
}

void cli_manifest_free(cli_manifest *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nactors; i++)
        free(m->actors[i].module);
    free(m->actors);
    free(m->msgs);
    json_decref(m->doc);
    memset(m, 0, sizeof *m);
}

/* id has the form "<parent>.<anything>": the name a child of parent (sup_spawn) would get.
 * Two such ids in one run would be discovered only when the child spawns, after chains were
 * written: either the manifest's actor cannot start or the child cannot. */
static int child_of(const char *id, const char *parent)
{
    size_t pl = strlen(parent);
    return strncmp(id, parent, pl) == 0 && id[pl] == '.';
}

static int parse(ctx *c, cli_manifest *m, const char *text, size_t len, const char *other_id)
{
    static const char *const top[] = {"actors", "messages", "http_allow", NULL};
    static const char *const msg_keys[] = {"to", "body", NULL};
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return fail(c, "line %d column %d: %s", je.line, je.column, je.text);
    m->doc = root;
    m->path = c->path;
    if (!json_is_object(root))
        return fail(c, "not a JSON object");
    if (known_keys(c, root, "the manifest", top))
        return -1;
    json_t *actors = json_object_get(root, "actors");
    if (!json_is_array(actors) || !json_array_size(actors) ||
        json_array_size(actors) > CLI_MANIFEST_ACTORS)
        return fail(c, "needs \"actors\": an array of 1 to %d actors", CLI_MANIFEST_ACTORS);
    json_t *allow = json_object_get(root, "http_allow");
    if (allow && get_list(c, allow, "http_allow", 0, m->allow, &m->nallow))
        return -1;
    for (size_t i = 0; i < m->nallow; i++)
        if (ec_http_allow_check(m->allow[i]))
            return fail(c, "http_allow[%zu]: %s", i, ec_error_last()->message);
    m->has_allow = allow != NULL;
    /* The modules' base: the manifest's directory. */
    char dir[MODULE_PATH_MAX];
    const char *slash = strrchr(c->path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == c->path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - c->path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - c->path), c->path);
    else
        return fail(c, "path too long");
    size_t n = json_array_size(actors);
    m->actors = calloc(n, sizeof *m->actors);
    if (!m->actors)
        return fail(c, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int rc = parse_actor(c, json_array_get(actors, i), i, dir, &m->actors[i]);
        m->nactors = i + 1; /* freed by cli_manifest_free, even half-made */
        if (rc)
            return -1;
        const char *id = m->actors[i].id;
        if (other_id && strcmp(id, other_id) == 0)
            return fail(c, "actors[%zu].id: \"%s\" is the module argument's actor too", i, id);
        if (other_id && (child_of(id, other_id) || child_of(other_id, id)))
            return fail(c,
                        "actors[%zu].id: \"%s\" and the module argument's actor \"%s\": the "
                        "name of one could be taken by a child of the other (children are named "
                        "\"<parent>.<name>\")",
                        i, id, other_id);
        for (size_t k = 0; k < i; k++) {
            const char *ok = m->actors[k].id;
            if (strcmp(ok, id) == 0)
                return fail(c, "actors[%zu].id: \"%s\" is actors[%zu]'s too", i, id, k);
            if (child_of(id, ok) || child_of(ok, id))
                return fail(c,
                            "actors[%zu].id: \"%s\" and actors[%zu].id \"%s\": the name of one "
                            "could be taken by a child of the other (children are named "
                            "\"<parent>.<name>\")",
                            i, id, k, ok);
        }
    }
    json_t *msgs = json_object_get(root, "messages");
    if (msgs && !json_is_array(msgs))
        return fail(c, "\"messages\": not an array");
    size_t nm = msgs ? json_array_size(msgs) : 0;
    m->msgs = nm ? calloc(nm, sizeof *m->msgs) : NULL;
    if (nm && !m->msgs)
        return fail(c, "out of memory");
    for (size_t i = 0; i < nm; i++) {
        json_t *v = json_array_get(msgs, i);
        char where[48];
        snprintf(where, sizeof where, "messages[%zu]", i);
        cli_manifest_msg *g = &m->msgs[i];
        if (!json_is_object(v))
            return fail(c, "%s: not an object", where);
        if (known_keys(c, v, where, msg_keys) ||
            get_string(c, v, "to", where, 1, 0, &g->to, NULL) ||
            get_string(c, v, "body", where, 1, 1, &g->body, &g->body_len))
            return -1;
        size_t k = 0;
        while (k < m->nactors && strcmp(m->actors[k].id, g->to) != 0)
            k++;
        if (k == m->nactors && !(other_id && strcmp(other_id, g->to) == 0))
            return fail(c, "%s.to: \"%s\" is not an actor of this run", where, g->to);
        m->nmsgs = i + 1;
    }
    return 0;
}

int cli_manifest_parse(cli_manifest *out, const char *text, size_t len, const char *path,
                       const char *other_id, char *err, size_t errcap)
{
    ctx c = {path, err, errcap};
    memset(out, 0, sizeof *out);
    if (errcap)
        err[0] = 0;
    if (len > CLI_MANIFEST_BYTES) {
        fail(&c, "larger than %u bytes", CLI_MANIFEST_BYTES);
        return -1;
    }
    if (parse(&c, out, text, len, other_id) != 0) {
        cli_manifest_free(out);
        return -1;
    }
    return 0;
}

int cli_manifest_check_modules(const cli_manifest *m, char *err, size_t errcap)
{
    for (size_t i = 0; i < m->nactors; i++) {
        const char *p = m->actors[i].module;
        FILE *f = fopen(p, "rb");
        unsigned char magic[4] = {0};
        if (!f) {
            snprintf(err, errcap, "%s: actors[%zu].module: %s: %s", m->path, i, p, strerror(errno));
            return -1;
        }
        size_t got = fread(magic, 1, sizeof magic, f);
        int rerr = ferror(f) ? errno : 0; /* EISDIR for a directory, which fopen accepts */
        fclose(f);
        if (rerr) {
            snprintf(err, errcap, "%s: actors[%zu].module: %s: %s", m->path, i, p, strerror(rerr));
            return -1;
        }
        if (got != 4 || memcmp(magic, "\0asm", 4) != 0) {
            snprintf(err, errcap,
                     "%s: actors[%zu].module: %s: not a WebAssembly module (no "
                     "\\0asm magic)",
                     m->path, i, p);
            return -1;
        }
    }
    return 0;
}
