/* cli/payload.c: decoding of event payloads for display: actor events (docs/ABI.md) and
 * HTTP events are decoded by the actor layer; other data is left to the caller. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_payload_json(const ec_event *ev, char **json_out)
{
    *json_out = NULL;
    char type[256];
    if (ev->type_len >= sizeof type)
        return -1;
    memcpy(type, ev->type, ev->type_len);
    type[ev->type_len] = 0;
    return ec_payload_to_json(type, ev->data, ev->data_len, json_out);
}
