/* cli/payload.c: decoding of event payloads for display. Actor payloads (docs/ABI.md) are
 * decoded by the actor layer when it is present; other data is left to the caller. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Weak: the actor layer provides it (include/evchain/actor.h) when linked. */
int ec_payload_to_json(const char *event_type, const uint8_t *data, size_t len, char **json_out)
    __attribute__((weak));

int cli_payload_json(const ec_event *ev, char **json_out)
{
    *json_out = NULL;
    char type[256];
    if (!ec_payload_to_json || ev->type_len >= sizeof type)
        return -1;
    memcpy(type, ev->type, ev->type_len);
    type[ev->type_len] = 0;
    return ec_payload_to_json(type, ev->data, ev->data_len, json_out);
}
