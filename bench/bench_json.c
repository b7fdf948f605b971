/* bench/bench_json.c: JSONL export and import rates against limits measured in the same run.
 * Export is compared with its irreducible work (base64 of the data and hex of the hashes of
 * every event, and SHA-256 of each stored encoding: an export verifies what it writes, in
 * the same pass); import with the irreducible decoding and hashing
 * (base64 and hex decoding, SHA-256 over the same encodings). 200k events of 256 bytes.
 * Export's memory growth is printed too: it streams, so it must stay flat. */
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include <jansson.h>
#include <evchain/evchain.h>
#include "bench.h"
#include "core/internal.h"

#define DATA_LEN 256

static ssize_t discard_write(void *cookie, const char *buf, size_t n)
{
    (void)cookie;
    (void)buf;
    return (ssize_t)n;
}

static double best(double a, double b)
{
    return a < b ? a : b;
}

int main(void)
{
    unsigned long n = bench_scaled(200000);
    uint8_t data[DATA_LEN];
    for (int i = 0; i < DATA_LEN; i++)
        data[i] = (uint8_t)(i * 7);
    ec_backend *be;
    ec_chain *c;
    if (ec_backend_memory(&be, NULL) || ec_chain_open(&c, be, NULL)) {
        fprintf(stderr, "bench_json: %s\n", ec_error_last()->message);
        return 1;
    }
    for (unsigned long i = 0; i < n; i++) {
        memcpy(data, &i, sizeof i);
        ec_event_input in = {.type = "bench/event",
                             .data = data,
                             .data_len = DATA_LEN,
                             .description = i % 2 ? "odd" : NULL,
                             .timestamp = 1 + i};
        if (ec_chain_append(c, &in, NULL, NULL)) {
            fprintf(stderr, "bench_json: %s\n", ec_error_last()->message);
            return 1;
        }
    }

    /* --- export to a stream that discards (formatting, not the disk or the page cache:
     * /dev/null is not always a device in containers), best of three --- */
    cookie_io_functions_t discard = {.write = discard_write};
    FILE *null = fopencookie(NULL, "w", discard);
    if (!null)
        return 1;
    ec_export_options eo = EC_EXPORT_OPTIONS_INIT;
    eo.format = EC_FORMAT_JSONL;
    double rss0 = bench_peak_rss_mib(), t_export = 1e9;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = bench_now();
        if (ec_export_stream(c, null, &eo)) {
            fprintf(stderr, "export: %s\n", ec_error_last()->message);
            return 1;
        }
        t_export = best(t_export, bench_now() - t0);
    }
    double rss_growth = bench_peak_rss_mib() - rss0;
    fclose(null);

    /* limit: base64 of each event's data and hex of its hash and parent, into one buffer */
    char b64[ec_base64_len(DATA_LEN) + 1], hex[2 * EC_HASH_MAX + 1];
    double t_text = 1e9;
    unsigned acc = 0;
    for (int rep = 0; rep < 3; rep++) {
        ec_iter *it;
        ec_event ev;
        if (ec_iter_new(&it, c, 0))
            return 1;
        double t0 = bench_now();
        while (ec_iter_next(it, &ev) == 0) {
            ec_base64_encode(b64, ev.data, ev.data_len);
            ec_hex_encode(hex, ev.hash, ev.hash_len);
            acc += (unsigned char)b64[5] + (unsigned char)hex[3];
            if (ev.parent_hash) {
                ec_hex_encode(hex, ev.parent_hash, ev.hash_len);
                acc += (unsigned char)hex[7];
            }
        }
        t_text = best(t_text, bench_now() - t0);
        ec_iter_free(it);
    }

    /* --- import: the JSONL text from memory into a new chain, verified --- */
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem || ec_export_stream(c, mem, &eo))
        return 1;
    fclose(mem);
    double t_import = 1e9;
    for (int rep = 0; rep < 2; rep++) {
        ec_chain *d;
        if (ec_backend_memory(&be, NULL) || ec_chain_open(&d, be, NULL))
            return 1;
        FILE *in = fmemopen(text, len, "r");
        double t0 = bench_now();
        if (ec_import_stream(d, in, "bench", EC_FORMAT_JSONL, 0, NULL)) {
            fprintf(stderr, "import: %s\n", ec_error_last()->message);
            return 1;
        }
        t_import = best(t_import, bench_now() - t0);
        if (ec_chain_count(d) != n)
            return 1;
        fclose(in);
        ec_chain_free(d);
    }
    /* limit: the irreducible work of an import, nothing else: base64-decode each event's
     * data, hex-decode its hash and parent, SHA-256 its stored encoding. For reference, the
     * rate at which jansson alone parses the same lines (what a tree parser would cost). */
    double t_decode = 1e9, t_hash = 1e9, t_parse = 1e9;
    uint8_t dec[DATA_LEN + 3], hb[EC_HASH_MAX];
    for (int rep = 0; rep < 2; rep++) {
        double t0 = bench_now();
        for (char *p = text; p < text + len;) {
            char *nl = memchr(p, '\n', (size_t)(text + len - p));
            char *h = strstr(p, "\"hash\":\""), *ph = strstr(p, "\"parent_hash\":\"");
            char *d = strstr(p, "\"data\":\"");
            if (h && h < nl) {
                size_t dl;
                ec_hex_decode(hb, 32, h + 8, 64);
                if (ph && ph < nl)
                    ec_hex_decode(hb, 32, ph + 15, 64);
                char *q = memchr(d + 8, '"', (size_t)(nl - d - 8));
                if (!q || ec_base64_decode(dec, &dl, d + 8, (size_t)(q - d - 8)))
                    return 1;
                acc += dec[3] + hb[1];
            }
            p = nl + 1;
        }
        t_decode = best(t_decode, bench_now() - t0);
        ec_hasher *h;
        if (ec_hasher_new(&h, EC_HASH_SHA256))
            return 1;
        t0 = bench_now();
        for (unsigned long s = 0; s < n; s++) {
            const uint8_t *rec;
            size_t rl;
            uint8_t out[EC_HASH_MAX];
            ec_backend *cb = ec_chain_backend(c);
            if (cb->get(cb, s, &rec, &rl))
                return 1;
            ec_hasher_bytes(h, rec, rl - 32, out);
            acc += out[0];
        }
        t_hash = best(t_hash, bench_now() - t0);
        ec_hasher_free(h);
        t0 = bench_now();
        for (char *p = text; p < text + len;) {
            char *nl = memchr(p, '\n', (size_t)(text + len - p));
            json_error_t err;
            json_t *j = json_loadb(p, (size_t)(nl - p), 0, &err);
            if (!j)
                return 1;
            acc += (unsigned)json_object_size(j);
            json_decref(j);
            p = nl + 1;
        }
        t_parse = best(t_parse, bench_now() - t0);
    }
    free(text);
    ec_chain_free(c);

    /* The export verifies each event as it writes it (ec_iter_verify), so its limit is the
     * text work plus the same SHA-256 the import's limit counts. */
    double ex = (double)n / t_export, exl = (double)n / (t_text + t_hash);
    double im = (double)n / t_import, iml = (double)n / (t_decode + t_hash);
    printf("events: %lu x %d-byte data, SHA-256, JSONL (%.0f bytes a line)\n", n, DATA_LEN,
           (double)len / (double)(n + 1));
    printf("export:        %.3f M events/s (%.0f MB/s of text)\n", ex / 1e6,
           ex * (double)len / (double)n / 1e6);
    printf("export limit:  %.3f M events/s (base64 + hex %.3f M/s, SHA-256 %.3f M/s: export "
           "verifies)\n",
           exl / 1e6, (double)n / t_text / 1e6, (double)n / t_hash / 1e6);
    printf("export memory: %.1f MiB peak RSS growth over 3 exports (streams: stays flat)\n",
           rss_growth);
    printf("import:        %.3f M events/s (parse, decode, verify, store)\n", im / 1e6);
    printf("import limit:  %.3f M events/s (base64 + hex decoding %.3f M/s, SHA-256 %.3f M/s)\n",
           iml / 1e6, (double)n / t_decode / 1e6, (double)n / t_hash / 1e6);
    printf("jansson alone: %.3f M lines/s (parsing the same lines into a tree, for reference)\n",
           (double)n / t_parse / 1e6);
    printf("(checksum %u)\n", acc);
    printf("json.export: %.3f\n", ex / exl);
    printf("json.import: %.3f\n", im / iml);
    return 0;
}
