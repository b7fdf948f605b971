/* evchain/evchain.h: the whole public API of evchain in one include. */
#ifndef EVCHAIN_H
#define EVCHAIN_H

#include "common.h"
#include "backend.h"
#include "chain.h"
#include "store.h"
#include "proof.h"
#include "actor.h"
#include "http.h"
#include "replay.h"

#endif
