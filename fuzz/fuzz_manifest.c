/* fuzz/fuzz_manifest.c: libFuzzer harness for the manifest of `evchain run --manifest`
 * (src/cli/manifest.c): whatever the bytes, a clear error or a manifest whose every promise
 * holds: 1 to 1024 actors with valid, distinct ids (none the other actor's), modules resolved
 * against the manifest's directory, messages addressed to actors of the run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evchain/evchain.h>

#include "cli/cli.h"
#include "cli/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cli_manifest m;
    char err[600];
    if (cli_manifest_parse(&m, (const char *)data, size, "dir/m.json", "other", err, sizeof err) !=
        0) {
        if (!err[0] || strncmp(err, "dir/m.json: ", 12) != 0 || m.nactors || m.doc)
            abort(); /* an error says what and where, and leaves nothing behind */
        return 0;
    }
    if (!m.nactors || m.nactors > CLI_MANIFEST_ACTORS || m.nallow > CLI_MANIFEST_LIST)
        abort();
    for (size_t i = 0; i < m.nactors; i++) {
        const cli_manifest_actor *a = &m.actors[i];
        if (!ec_actor_id_valid(a->id, strlen(a->id)) || strcmp(a->id, "other") == 0 || !a->module ||
            (a->module[0] != '/' && strncmp(a->module, "dir/", 4) != 0) ||
            a->nenv > CLI_MANIFEST_LIST)
            abort();
        for (size_t k = 0; k < i; k++)
            if (strcmp(m.actors[k].id, a->id) == 0)
                abort();
        for (size_t k = 0; k < a->nenv; k++)
            if (!a->env[k][0] || strchr(a->env[k], '='))
                abort();
    }
    for (size_t i = 0; i < m.nmsgs; i++) {
        size_t k = 0;
        while (k < m.nactors && strcmp(m.actors[k].id, m.msgs[i].to) != 0)
            k++;
        if (k == m.nactors && strcmp(m.msgs[i].to, "other") != 0)
            abort();
    }
    cli_manifest_free(&m);
    return 0;
}
