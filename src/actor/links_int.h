/* actor/links_int.h: what links.c decides about messages, shared with the recovery that
 * queues again the messages its actor was sent and never given (replay.c, docs/ABI.md
 * section 7), so that both read the chains by one rule. */
#ifndef EVCHAIN_LINKS_INT_H
#define EVCHAIN_LINKS_INT_H

#include <stdint.h>
#include <evchain/chain.h>

/* Fed a chain's events in seq order: the message/send waiting for its result. */
typedef struct ec_links_send_track {
    char to[65];  /* the receiver's id (empty: none or malformed) */
    uint64_t seq; /* the message/send's seq */
    int open;
} ec_links_send_track;
enum { EC_LINKS_SEND_SEEN = 1, EC_LINKS_SEND_ACCEPTED = 2 };
/* 0: ev is neither a message/send nor its result; EC_LINKS_SEND_SEEN: it is one of them;
 * EC_LINKS_SEND_ACCEPTED: ev is the result (ret 0) of the message/send at t->seq to t->to. */
int ec_links_send_step(ec_links_send_track *t, const ec_event *ev);
/* 1: ev ends a message from actor `from` (its delivery, or its message/dropped), the link
 * (hash of the sender's message/send) in hash[*hl]; 0: no; -1: such an event without a
 * valid link. */
int ec_links_message_end(const ec_event *ev, char from[65], uint8_t hash[EC_HASH_MAX], size_t *hl);

/* The actor id event 0 of c names (its actor/start's "actor", 1..64 bytes) into id: 0, or -1
 * when event 0 cannot be read or is not such an actor/start. */
int ec_links_chain_actor(ec_chain *c, char id[65]);

#endif
