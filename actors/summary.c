/* actors/summary.c: an example HTTP actor that calls another HTTP service (allow-listed at
 * start with --http-allow) and answers with a summary of what it got. Its argument is the
 * URL to call; GET /summary calls it, e.g.
 *   {"url":"http://127.0.0.1:8080/kv","status":200,"bytes":21,"lines":1}
 * or, when the call got no response, 502 with {"url":...,"error":"refused"}. The request
 * and the response (or the error) are both in the actor's chain. */
#include "evchain_abi.h"

static char url[1024];
static u32 url_len;
static unsigned char resp[96 * 1024];

EXPORT("ec_init") i32 init(const char *args, u32 n)
{
    if (n == 0 || n > sizeof url)
        return EC_EINVAL;
    memcpy(url, args, n);
    url_len = n;
    return 0;
}

static const char *error_name(u32 e)
{
    static const char *const names[] = {"?",      "refused",   "timeout", "dns",
                                        "denied", "too-large", "failed"};
    return e < 7 ? names[e] : "?";
}

static u32 put_s(char *out, u32 n, const char *s)
{
    u32 l = ec_strlen(s);
    memcpy(out + n, s, l);
    return n + l;
}

EXPORT("ec_handle_http") i32 on_http(const unsigned char *p, u32 n)
{
    ec_http_view v;
    if (ec_http_parse(p, n, &v) != 0 || v.kind != 1)
        return HTTP_JSON(400, "{\"error\":\"unreadable request\"}");
    if (v.target_len < 8 || !ec_memeq(v.target, "/summary", 8))
        return HTTP_JSON(404, "{\"error\":\"GET /summary\"}");
    static unsigned char req[2048];
    ec_http_out o = {req, sizeof req, 0, 0, 0};
    ec_http_begin_request(&o, "GET", url, url_len);
    ec_http_header(&o, "Accept", "application/json");
    ec_http_end(&o, "", 0);
    if (o.failed)
        return HTTP_JSON(500, "{\"error\":\"URL too long\"}");
    i32 got = ec_http_request(o.p, o.len, resp, sizeof resp);
    static char out[1400];
    u32 k = put_s(out, 0, "{\"url\":\"");
    memcpy(out + k, url, url_len); /* a URL holds no '"' or '\\' (FORMAT.md section 7) */
    k += url_len;
    ec_http_view r;
    if (got < 0 || ec_http_parse(resp, (u32)got, &r) != 0) {
        k = put_s(out, k,
                  got == EC_ETOOBIG ? "\",\"error\":\"response too large\"}"
                                    : "\",\"error\":\"host call failed\"}");
        return ec_http_reply(502, "application/json", out, k);
    }
    if (r.kind == 5) {
        k = put_s(out, k, "\",\"error\":\"");
        k = put_s(out, k, error_name(r.error));
        k = put_s(out, k, "\"}");
        return ec_http_reply(502, "application/json", out, k);
    }
    u32 lines = 0;
    for (u32 i = 0; i < r.body_len; i++)
        lines += r.body[i] == '\n';
    if (r.body_len && r.body[r.body_len - 1] != '\n')
        lines++;
    k = put_s(out, k, "\",\"status\":");
    k += ec_utoa(r.status, out + k);
    k = put_s(out, k, ",\"bytes\":");
    k += ec_utoa(r.body_len, out + k);
    k = put_s(out, k, ",\"lines\":");
    k += ec_utoa(lines, out + k);
    k = put_s(out, k, "}");
    return ec_http_reply(200, "application/json", out, k);
}
