/* cli/manifest.h: the manifest of `evchain run --manifest` (docs/ABI.md section 5), parsed
 * and checked in full before anything starts, so that a bad manifest writes nothing. */
#ifndef EVCHAIN_CLI_MANIFEST_H
#define EVCHAIN_CLI_MANIFEST_H

#include <stddef.h>

#define CLI_MANIFEST_LIST   64   /* most env names per actor, hosts in http_allow */
#define CLI_MANIFEST_ACTORS 1024 /* most actors in one manifest */
#define CLI_MANIFEST_BYTES  (16u << 20)

typedef struct cli_manifest_actor {
    const char *id, *args, *http; /* args, http: NULL when absent */
    size_t args_len;
    char *module; /* resolved against the manifest's directory */
    const char *env[CLI_MANIFEST_LIST];
    size_t nenv;
} cli_manifest_actor;

typedef struct cli_manifest_msg {
    const char *to, *body;
    size_t body_len;
} cli_manifest_msg;

/* Strings point into the parsed document, which the manifest keeps until cli_manifest_free. */
typedef struct cli_manifest {
    void *doc;        /* the jansson document */
    const char *path; /* as given to cli_manifest_parse */
    cli_manifest_actor *actors;
    size_t nactors;
    cli_manifest_msg *msgs;
    size_t nmsgs;
    const char *allow[CLI_MANIFEST_LIST];
    size_t nallow;
    int has_allow; /* "http_allow" present (it replaces --http-allow, even when empty) */
} cli_manifest;

/* Parse len bytes as the manifest file at path (named in messages; its directory is the
 * base of relative module paths). other_id: the id of an actor the same run starts besides
 * the manifest's (the module argument's), or NULL: it may receive messages, and no manifest
 * actor may take it. Checks the document's shape, every field's type, ids (valid, unique),
 * http addresses and message recipients, without touching the file system. 0, or -1 with
 * the first problem in err ("<path>: actors[2].id: ..."); *out is then empty. */
int cli_manifest_parse(cli_manifest *out, const char *text, size_t len, const char *path,
                       const char *other_id, char *err, size_t errcap);

/* Each actor's module: readable, and starting with the WebAssembly magic. 0 or -1 with the
 * reason in err. */
int cli_manifest_check_modules(const cli_manifest *m, char *err, size_t errcap);

void cli_manifest_free(cli_manifest *m);

#endif
