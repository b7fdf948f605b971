/* actors/httptest.c: an HTTP actor for the tests of the runtime's HTTP wiring: each path
 * exercises one rule of docs/ABI.md section 8.
 *   /echo      200, body "METHOD TARGET BODYLEN" and the request's X-Tag header echoed
 *   /trap      traps (unreachable) after responding: the client gets 500
 *   /silent    returns without http_respond: 500
 *   /twice     responds twice: the second answer is ESTATE, told in an X-Second header
 *   /garbage   http_respond with a malformed payload: EINVAL, then 200 saying so
 *   /slow      spins until its fuel runs out (with a large --fuel: longer than the timeout)
 *   /busy      the same, with a host call (time_now) every 10^5 loop turns: a late refusal
 *              then lands between two host calls of the running call
 *   /slowlog   logs "slowlog: spinning" (echoed on the runtime's stderr at once, unlike the
 *              chain's records, which a served request defers), then spins as /slow: a
 *              test waits for that line to know the call has begun
 *   /fetch     http_request to the URL given as the actor's argument, body = its result
 *   /badreq    http_request with a malformed payload: EINVAL (nothing recorded), then 200
 *   /small     http_request with a 16-byte buffer: ETOOBIG (recorded), then 200
 *   /spin      spins for 1e6 loop turns, then 200 "spun" (a fixed amount of CPU: a benchmark)
 *   /ask       spins for 1e9 loop turns (about 1.5 s), then msg_request to the actor named by the
 *              argument: 200 "reply R" (its reply) or "error E" (the ABI code)
 *   /sendtrap  msg_send "held" to itself (busy in this very call), then "inc" to the actor
 *              named by the argument, then traps: a recovery abandons both sends
 *   /timertrap timer_set of 0 ms, tag 1, then traps: a recovery abandons the timer
 * A request (msg_request) is answered "pong".
 * A message makes it try http_respond outside ec_handle_http; it returns what it got.
 * A timer returns 0. */
#include "evchain_abi.h"

static char url[512];
static u32 url_len;

EXPORT("ec_init") i32 init(const char *args, u32 n)
{
    if (n > sizeof url)
        return EC_EINVAL;
    memcpy(url, args, n);
    url_len = n;
    return 0;
}

static int is(const ec_http_view *v, const char *path)
{
    u32 l = ec_strlen(path);
    return v->target_len == l && ec_memeq(v->target, path, l);
}

static volatile u32 sink;

EXPORT("ec_handle_http") i32 on_http(const unsigned char *p, u32 n)
{
    static char out[256];
    static unsigned char buf[4096];
    ec_http_view v;
    if (ec_http_parse(p, n, &v) != 0)
        __builtin_trap();
    if (is(&v, "/echo")) {
        u32 k = 0;
        memcpy(out, v.method, v.method_len);
        k = v.method_len;
        out[k++] = ' ';
        memcpy(out + k, v.target, v.target_len);
        k += v.target_len;
        out[k++] = ' ';
        k += ec_utoa(v.body_len, out + k);
        /* The X-Tag header, found by walking the header list. */
        char tag[64] = "none";
        const unsigned char *h = v.headers;
        for (u32 i = 0; i < v.header_count; i++) {
            u32 nl = ec_get32(h), vl = ec_get32(h + 4 + nl);
            if (nl == 5 && ec_memeq(h + 4, "X-Tag", 5) && vl < sizeof tag) {
                memcpy(tag, h + 8 + nl, vl);
                tag[vl] = 0;
            }
            h += 8 + nl + vl;
        }
        ec_http_out o = {buf, sizeof buf, 0, 0, 0};
        ec_http_begin_response(&o, 200);
        ec_http_header(&o, "X-Tag", tag);
        ec_http_end(&o, out, k);
        return ec_http_respond(o.p, o.len);
    }
    if (is(&v, "/trap")) {
        HTTP_JSON(200, "{\"never\":\"sent\"}");
        __builtin_trap();
    }
    if (is(&v, "/silent"))
        return 0;
    if (is(&v, "/twice")) {
        ec_http_out o = {buf, sizeof buf, 0, 0, 0};
        ec_http_begin_response(&o, 200);
        ec_http_end(&o, "first", 5);
        ec_http_respond(o.p, o.len);
        i32 second = ec_http_respond(o.p, o.len);
        /* Too late to tell the client in this reply: logged, and the test reads the chain. */
        return second == EC_ESTATE ? 0 : 1;
    }
    if (is(&v, "/garbage")) {
        i32 rc = ec_http_respond("not a payload", 13);
        return rc == EC_EINVAL ? HTTP_JSON(200, "{\"garbage\":\"refused\"}")
                               : HTTP_JSON(500, "{\"garbage\":\"accepted?\"}");
    }
    if (is(&v, "/slow")) {
        for (;;)
            sink++;
    }
    if (is(&v, "/slowlog")) {
        LOG("slowlog: spinning");
        for (;;)
            sink++;
    }
    if (is(&v, "/busy")) {
        for (;;) {
            for (u32 i = 0; i < 100000u; i++)
                sink++;
            sink += (u32)ec_time_now();
        }
    }
    if (is(&v, "/fetch")) {
        ec_http_out o = {buf, sizeof buf, 0, 0, 0};
        ec_http_begin_request(&o, "GET", url, url_len);
        ec_http_end(&o, "", 0);
        static unsigned char resp[8192];
        i32 got = ec_http_request(o.p, o.len, resp, sizeof resp);
        ec_http_view r;
        if (got < 0 || ec_http_parse(resp, (u32)got, &r) != 0)
            return HTTP_JSON(502, "{\"fetch\":\"host call failed\"}");
        u32 k = 0;
        if (r.kind == 5) {
            memcpy(out, "error ", 6);
            k = 6 + ec_utoa(r.error, out + 6);
        } else {
            memcpy(out, "status ", 7);
            k = 7 + ec_utoa(r.status, out + 7);
            out[k++] = ' ';
            u32 bl = r.body_len < 100 ? r.body_len : 100;
            memcpy(out + k, r.body, bl);
            k += bl;
        }
        return ec_http_reply(200, "text/plain", out, k);
    }
    if (is(&v, "/spin")) {
        for (u32 i = 0; i < 1000000u; i++)
            sink++;
        return ec_http_reply(200, "text/plain", "spun", 4);
    }
    if (is(&v, "/ask")) {
        for (u32 i = 0; i < 1000000000u; i++)
            sink++;
        static char got[64];
        i32 rc = ec_msg_request(url, url_len, "ping", 4, got, sizeof got);
        u32 k;
        if (rc < 0) {
            memcpy(out, "error ", 6);
            k = 6 + ec_utoa((u32)-rc, out + 6);
        } else {
            memcpy(out, "reply ", 6);
            memcpy(out + 6, got, (u32)rc);
            k = 6 + (u32)rc;
        }
        return ec_http_reply(200, "text/plain", out, k);
    }
    if (is(&v, "/sendtrap")) {
        static char self[64];
        i32 sl = ec_actor_id(self, sizeof self);
        if (sl < 0)
            __builtin_trap();
        ec_msg_send(self, (u32)sl, "held", 4);
        ec_msg_send(url, url_len, "inc", 3);
        __builtin_trap();
    }
    if (is(&v, "/timertrap")) {
        ec_timer_set(0, 1);
        __builtin_trap();
    }
    if (is(&v, "/badreq")) {
        i32 rc = ec_http_request("junk", 4, buf, sizeof buf);
        return rc == EC_EINVAL ? HTTP_JSON(200, "{\"badreq\":\"EINVAL\"}")
                               : HTTP_JSON(500, "{\"badreq\":\"accepted?\"}");
    }
    if (is(&v, "/small")) {
        ec_http_out o = {buf, sizeof buf, 0, 0, 0};
        ec_http_begin_request(&o, "GET", url, url_len);
        ec_http_end(&o, "", 0);
        unsigned char tiny[16];
        i32 rc = ec_http_request(o.p, o.len, tiny, sizeof tiny);
        return rc == EC_ETOOBIG ? HTTP_JSON(200, "{\"small\":\"ETOOBIG\"}")
                                : HTTP_JSON(500, "{\"small\":\"fit?\"}");
    }
    return HTTP_JSON(404, "{\"error\":\"no such test path\"}");
}

EXPORT("ec_handle_message") i32 on_message(const char *p, u32 n)
{
    (void)p, (void)n;
    return HTTP_JSON(200, "{\"outside\":\"a request\"}");
}

EXPORT("ec_handle_request") i32 on_request(const char *p, u32 n)
{
    (void)p, (void)n;
    return ec_msg_reply("pong", 4);
}

EXPORT("ec_handle_timer") i32 on_timer(u64 tag)
{
    (void)tag;
    return 0;
}
