/* proof/note.c: C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys through OpenSSL:
 * key generation, the private and verifier key texts, key IDs, signing and opening notes. */
#include <stdio.h>
#include <stdlib.h>
#include <openssl/evp.h>

#include <evchain/proof.h>
#include "core/internal.h"
#include "proof/proof_internal.h"

#define SIG_ED25519 0x01
#define ED25519_KEY 32
#define ED25519_SIG 64
#define SKEY_PREFIX "PRIVATE+KEY+"

struct ec_signer {
    char name[EC_NOTE_NAME_MAX];
    uint32_t id;
    uint8_t seed[ED25519_KEY];
    uint8_t pub[ED25519_KEY];
    EVP_PKEY *pkey;
};

struct ec_vkey {
    char name[EC_NOTE_NAME_MAX];
    uint32_t id;
    uint8_t pub[ED25519_KEY];
    EVP_PKEY *pkey;
};

/* ---- helpers ---- */

/* Decode one UTF-8 code point of a string already known to be valid. */
static uint32_t utf8_next(const unsigned char *s, size_t *i)
{
    uint32_t c = s[*i];
    size_t need = c < 0x80 ? 0 : c < 0xe0 ? 1 : c < 0xf0 ? 2 : 3;
    if (need)
        c &= 0x3fu >> need;
    (*i)++;
    while (need--)
        c = c << 6 | (s[(*i)++] & 0x3fu);
    return c;
}

/* Go's unicode.IsSpace, which the reference implementation's name check uses. */
static int is_space(uint32_t c)
{
    return c == ' ' || (c >= 0x09 && c <= 0x0d) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

int ec_note_name_valid(const char *name, size_t len)
{
    if (len == 0 || len >= EC_NOTE_NAME_MAX || !ec_utf8_valid(name, len))
        return 0;
    const unsigned char *s = (const unsigned char *)name;
    for (size_t i = 0; i < len;) {
        uint32_t c = utf8_next(s, &i);
        /* Control characters are C0, DEL and C1 (U+0080..U+009F): FORMAT.md 5.2. */
        if (c == '+' || is_space(c) || c < 0x20 || (c >= 0x7f && c <= 0x9f))
            return 0;
    }
    return 1;
}

uint32_t ec_note_key_id(const char *name, uint8_t type, const uint8_t *key, size_t key_len)
{
    uint8_t h[32];
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned int hl = 0;
    uint8_t nl = '\n';
    if (!c || !EVP_DigestInit_ex(c, EVP_sha256(), NULL) ||
        !EVP_DigestUpdate(c, name, strlen(name)) || !EVP_DigestUpdate(c, &nl, 1) ||
        !EVP_DigestUpdate(c, &type, 1) || !EVP_DigestUpdate(c, key, key_len) ||
        !EVP_DigestFinal_ex(c, h, &hl))
        memset(h, 0, sizeof h); /* only on allocation failure: the ID then matches nothing */
    EVP_MD_CTX_free(c);
    return ec_get_u32(h);
}

/* Split "a+b+...+rest" into n fields at the first n-1 '+' (the last field, base64, may
 * itself contain '+'); fields point into s. */
static int split_plus(const char *s, size_t len, const char **f, size_t *fl, int n)
{
    size_t start = 0;
    for (int k = 0; k < n - 1; k++) {
        const char *p = memchr(s + start, '+', len - start);
        if (!p)
            return -1;
        f[k] = s + start;
        fl[k] = (size_t)(p - (s + start));
        start = (size_t)(p - s) + 1;
    }
    f[n - 1] = s + start;
    fl[n - 1] = len - start;
    return 0;
}

static int parse_hex_id(const char *s, size_t len, uint32_t *out)
{
    uint8_t b[4];
    if (len != 8 || ec_hex_decode(b, 4, s, 8) != 0)
        return -1;
    *out = ec_get_u32(b);
    return 0;
}

static void trim(const char **s, size_t *len)
{
    while (*len && (**s == ' ' || **s == '\t' || **s == '\n' || **s == '\r')) {
        (*s)++;
        (*len)--;
    }
    while (*len && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' || (*s)[*len - 1] == '\n' ||
                    (*s)[*len - 1] == '\r'))
        (*len)--;
}

/* ---- signers ---- */

static int signer_finish(ec_signer *s)
{
    s->pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, s->seed, ED25519_KEY);
    size_t pl = ED25519_KEY;
    if (!s->pkey || !EVP_PKEY_get_raw_public_key(s->pkey, s->pub, &pl) || pl != ED25519_KEY)
        return ec_error_set(EC_ERROR, "ed25519: OpenSSL could not load the key");
    s->id = ec_note_key_id(s->name, SIG_ED25519, s->pub, ED25519_KEY);
    return 0;
}

int ec_signer_generate(ec_signer **out, const char *name)
{
    *out = NULL;
    if (!name || !ec_note_name_valid(name, strlen(name)))
        return ec_error_set(EC_EINVAL,
                            "key name '%s': must be non-empty UTF-8 of under %d bytes without "
                            "spaces, control characters or '+'",
                            name ? name : "", EC_NOTE_NAME_MAX);
    ec_signer *s = calloc(1, sizeof *s);
    if (!s)
        return ec_error_set(EC_ENOMEM, "keygen: no memory");
    snprintf(s->name, sizeof s->name, "%s", name);
    EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
    EVP_PKEY *k = NULL;
    size_t sl = ED25519_KEY;
    int ok = kc && EVP_PKEY_keygen_init(kc) > 0 && EVP_PKEY_keygen(kc, &k) > 0 &&
             EVP_PKEY_get_raw_private_key(k, s->seed, &sl) && sl == ED25519_KEY;
    EVP_PKEY_CTX_free(kc);
    EVP_PKEY_free(k);
    int rc = ok ? signer_finish(s) : ec_error_set(EC_ERROR, "keygen: OpenSSL Ed25519 failed");
    if (rc) {
        ec_signer_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int ec_signer_parse(ec_signer **out, const char *text, size_t len)
{
    EC_REFUSE_NULL(out);
    *out = NULL;
    if (!text && len)
        return ec_error_set(EC_EINVAL, "ec_signer_parse: text is NULL");
    trim(&text, &len);
    const char *f[5];
    size_t fl[5];
    if (len < sizeof SKEY_PREFIX - 1 || memcmp(text, SKEY_PREFIX, sizeof SKEY_PREFIX - 1) != 0)
        return ec_error_set(EC_EFORMAT, "private key: does not start with '%s'", SKEY_PREFIX);
    if (split_plus(text, len, f, fl, 5) != 0)
        return ec_error_set(EC_EFORMAT, "private key: expected PRIVATE+KEY+<name>+<id>+<key>");
    if (!ec_note_name_valid(f[2], fl[2]))
        return ec_error_set(EC_EFORMAT, "private key: bad key name");
    uint32_t id;
    if (parse_hex_id(f[3], fl[3], &id) != 0)
        return ec_error_set(EC_EFORMAT, "private key: key ID is not 8 hex digits");
    uint8_t raw[88 / 4 * 3]; /* the longest base64 accepted below */
    size_t rl;
    if (fl[4] > 88 || ec_base64_decode(raw, &rl, f[4], fl[4]) != 0)
        return ec_error_set(EC_EFORMAT, "private key: bad base64 key");
    if (rl != 1 + ED25519_KEY || raw[0] != SIG_ED25519)
        return ec_error_set(EC_EUNSUPPORTED,
                            "private key: not an Ed25519 key (type 0x%02x, %zu bytes)",
                            rl ? raw[0] : 0, rl);
    ec_signer *s = calloc(1, sizeof *s);
    if (!s)
        return ec_error_set(EC_ENOMEM, "private key: no memory");
    memcpy(s->name, f[2], fl[2]);
    memcpy(s->seed, raw + 1, ED25519_KEY);
    int rc = signer_finish(s);
    if (rc == 0 && s->id != id)
        rc = ec_error_set(EC_EFORMAT, "private key: key ID %08x does not match the key (%08x)", id,
                          s->id);
    if (rc) {
        ec_signer_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

static int key_text(char **out, const char *prefix, const char *name, uint32_t id,
                    const uint8_t key[ED25519_KEY])
{
    uint8_t raw[1 + ED25519_KEY];
    char b64[64];
    raw[0] = SIG_ED25519;
    memcpy(raw + 1, key, ED25519_KEY);
    ec_base64_encode(b64, raw, sizeof raw);
    size_t n = strlen(prefix) + strlen(name) + 1 + 8 + 1 + strlen(b64) + 1;
    *out = malloc(n);
    if (!*out)
        return ec_error_set(EC_ENOMEM, "key text: no memory");
    snprintf(*out, n, "%s%s+%08x+%s", prefix, name, id, b64);
    return 0;
}

int ec_signer_text(const ec_signer *s, char **out)
{
    return key_text(out, SKEY_PREFIX, s->name, s->id, s->seed);
}

int ec_signer_vkey_text(const ec_signer *s, char **out)
{
    return key_text(out, "", s->name, s->id, s->pub);
}

const char *ec_signer_name(const ec_signer *s)
{
    return s->name;
}

void ec_signer_free(ec_signer *s)
{
    if (!s)
        return;
    EVP_PKEY_free(s->pkey);
    memset(s->seed, 0, sizeof s->seed);
    free(s);
}

/* ---- verifier keys ---- */

int ec_vkey_parse(ec_vkey **out, const char *text, size_t len)
{
    EC_REFUSE_NULL(out);
    *out = NULL;
    if (!text && len)
        return ec_error_set(EC_EINVAL, "ec_vkey_parse: text is NULL");
    trim(&text, &len);
    const char *f[3];
    size_t fl[3];
    if (split_plus(text, len, f, fl, 3) != 0)
        return ec_error_set(EC_EFORMAT, "verifier key: expected <name>+<id>+<key>");
    if (!ec_note_name_valid(f[0], fl[0]))
        return ec_error_set(EC_EFORMAT, "verifier key: bad key name");
    uint32_t id;
    if (parse_hex_id(f[1], fl[1], &id) != 0)
        return ec_error_set(EC_EFORMAT, "verifier key: key ID is not 8 hex digits");
    uint8_t raw[88 / 4 * 3]; /* the longest base64 accepted below */
    size_t rl;
    if (fl[2] > 88 || ec_base64_decode(raw, &rl, f[2], fl[2]) != 0)
        return ec_error_set(EC_EFORMAT, "verifier key: bad base64 key");
    if (rl < 1 || raw[0] != SIG_ED25519)
        return ec_error_set(EC_EUNSUPPORTED,
                            "verifier key: signature type 0x%02x is not supported (Ed25519 "
                            "is 0x01)",
                            rl ? raw[0] : 0);
    if (rl != 1 + ED25519_KEY)
        return ec_error_set(EC_EFORMAT, "verifier key: Ed25519 key of %zu bytes, not 32", rl - 1);
    ec_vkey *k = calloc(1, sizeof *k);
    if (!k)
        return ec_error_set(EC_ENOMEM, "verifier key: no memory");
    memcpy(k->name, f[0], fl[0]);
    memcpy(k->pub, raw + 1, ED25519_KEY);
    k->id = id;
    uint32_t want = ec_note_key_id(k->name, SIG_ED25519, k->pub, ED25519_KEY);
    if (want != id) {
        ec_vkey_free(k);
        return ec_error_set(EC_EFORMAT,
                            "verifier key: key ID %08x does not match the key (it hashes to "
                            "%08x)",
                            id, want);
    }
    k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->pub, ED25519_KEY);
    if (!k->pkey) {
        ec_vkey_free(k);
        return ec_error_set(EC_EFORMAT, "verifier key: not a valid Ed25519 public key");
    }
    *out = k;
    return 0;
}

const char *ec_vkey_name(const ec_vkey *k)
{
    return k->name;
}

uint32_t ec_vkey_id(const ec_vkey *k)
{
    return k->id;
}

void ec_vkey_free(ec_vkey *k)
{
    if (!k)
        return;
    EVP_PKEY_free(k->pkey);
    free(k);
}

/* ---- notes ---- */

static int ed25519_sign(EVP_PKEY *k, const char *msg, size_t len, uint8_t sig[ED25519_SIG])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t sl = ED25519_SIG;
    int ok = c && EVP_DigestSignInit(c, NULL, NULL, NULL, k) > 0 &&
             EVP_DigestSign(c, sig, &sl, (const uint8_t *)msg, len) > 0 && sl == ED25519_SIG;
    EVP_MD_CTX_free(c);
    return ok ? 0 : ec_error_set(EC_ERROR, "ed25519: OpenSSL could not sign");
}

static int ed25519_verify(EVP_PKEY *k, const char *msg, size_t len, const uint8_t *sig)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestVerifyInit(c, NULL, NULL, NULL, k) > 0 &&
             EVP_DigestVerify(c, sig, ED25519_SIG, (const uint8_t *)msg, len) == 1;
    EVP_MD_CTX_free(c);
    return ok;
}

/* The rules every note byte follows: valid UTF-8, no control character but newline. */
static int check_chars(const char *s, size_t len, const char *what)
{
    if (!ec_utf8_valid(s, len))
        return ec_error_set(EC_EFORMAT, "%s: not valid UTF-8", what);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\n')
            return ec_error_set(EC_EFORMAT, "%s: control character 0x%02x at byte %zu", what,
                                (unsigned char)s[i], i);
    return 0;
}

int ec_note_split(const char *note, size_t len, size_t *text_len)
{
    if (len > EC_NOTE_MAX_LEN)
        return ec_error_set(EC_EFORMAT, "note: %zu bytes, more than the %u accepted", len,
                            EC_NOTE_MAX_LEN);
    int rc = check_chars(note, len, "note");
    if (rc)
        return rc;
    /* The text ends at the last blank line: text may contain blank lines, signatures not. */
    size_t i = len;
    while (i >= 2 && !(note[i - 2] == '\n' && note[i - 1] == '\n'))
        i--;
    if (i < 2)
        return ec_error_set(EC_EFORMAT, "note: no blank line between the text and the "
                                        "signatures");
    *text_len = i - 1;
    if (i == len)
        return ec_error_set(EC_EFORMAT, "note: no signature lines after the blank line");
    if (note[len - 1] != '\n')
        return ec_error_set(EC_EFORMAT, "note: the last signature line has no final newline");
    return 0;
}

int ec_note_sign(char **out, size_t *out_len, const char *text, size_t text_len,
                 ec_signer *const *signers, size_t nsigners)
{
    *out = NULL;
    *out_len = 0;
    if (text_len == 0 || text[text_len - 1] != '\n')
        return ec_error_set(EC_EINVAL, "note text: must end with a newline");
    int rc = check_chars(text, text_len, "note text");
    if (rc)
        return rc;
    if (nsigners == 0 || nsigners > EC_NOTE_MAX_SIGS)
        return ec_error_set(EC_EINVAL, "note: %zu signers (1 to %d)", nsigners, EC_NOTE_MAX_SIGS);
    /* Each line: "— " (4 bytes), name, space, base64 of 68 bytes (92), newline. */
    size_t cap = text_len + 1 + nsigners * (4 + EC_NOTE_NAME_MAX + 1 + 92 + 1) + 1;
    char *buf = malloc(cap);
    if (!buf)
        return ec_error_set(EC_ENOMEM, "note: no memory");
    memcpy(buf, text, text_len);
    size_t o = text_len;
    buf[o++] = '\n';
    for (size_t i = 0; i < nsigners; i++) {
        uint8_t sig[4 + ED25519_SIG];
        ec_put_u32(sig, signers[i]->id);
        rc = ed25519_sign(signers[i]->pkey, text, text_len, sig + 4);
        if (rc) {
            free(buf);
            return rc;
        }
        char b64[100];
        ec_base64_encode(b64, sig, sizeof sig);
        o += (size_t)snprintf(buf + o, cap - o, "\xe2\x80\x94 %s %s\n", signers[i]->name, b64);
    }
    buf[o] = 0;
    *out = buf;
    *out_len = o;
    return 0;
}

int ec_note_open(const char *note, size_t len, ec_vkey *const *keys, size_t nkeys,
                 ec_note_result *res)
{
    ec_note_result tmp;
    if (!res)
        res = &tmp;
    memset(res, 0, sizeof *res);
    size_t text_len;
    int rc = ec_note_split(note, len, &text_len);
    if (rc)
        return rc;
    res->text_len = text_len;
    /* Line numbers in messages count from 1 over the whole note. */
    unsigned line = 1;
    for (size_t i = 0; i < text_len; i++)
        line += note[i] == '\n';
    line++; /* the blank line */
    int used[EC_NOTE_MAX_SIGS] = {0};
    char failed[160] = "";
    unsigned nsig = 0;
    size_t p = text_len + 1;
    while (p < len) {
        line++;
        const char *s = note + p;
        const char *nl = memchr(s, '\n', len - p);
        size_t ll = (size_t)(nl - s);
        p += ll + 1;
        if (++nsig > EC_NOTE_MAX_SIGS)
            return ec_error_set(EC_EFORMAT, "note: more than %d signatures", EC_NOTE_MAX_SIGS);
        if (ll < 4 || memcmp(s, "\xe2\x80\x94 ", 4) != 0)
            return ec_error_set(EC_EFORMAT,
                                "note: line %u: a signature line starts with an em dash "
                                "(U+2014) and a space",
                                line);
        const char *name = s + 4;
        const char *sp = memchr(name, ' ', ll - 4);
        if (!sp)
            return ec_error_set(EC_EFORMAT,
                                "note: line %u: no space between key name and "
                                "signature",
                                line);
        size_t nlen = (size_t)(sp - name);
        if (!ec_note_name_valid(name, nlen))
            return ec_error_set(EC_EFORMAT, "note: line %u: bad key name", line);
        const char *b64 = sp + 1;
        size_t blen = ll - 4 - nlen - 1;
        uint8_t sig[4 + ED25519_SIG + 8];
        size_t sl;
        /* 8 KiB of base64 covers any signature type; only Ed25519 is checked here. */
        if (blen > 8192)
            return ec_error_set(EC_EFORMAT, "note: line %u: signature too long", line);
        uint8_t *big = malloc(blen / 4 * 3 + 3);
        if (!big)
            return ec_error_set(EC_ENOMEM, "note: no memory");
        rc = ec_base64_decode(big, &sl, b64, blen);
        if (rc == 0 && sl < 5)
            rc = ec_error_set(EC_EFORMAT, "%zu bytes", sl);
        if (rc) {
            char why[200];
            snprintf(why, sizeof why, "%s", ec_error_last() ? ec_error_last()->message : "");
            free(big);
            return ec_error_set(EC_EFORMAT, "note: line %u: bad signature (%s)", line, why);
        }
        uint32_t id = ec_get_u32(big);
        size_t k;
        for (k = 0; k < nkeys; k++)
            if (keys[k]->id == id && strlen(keys[k]->name) == nlen &&
                memcmp(keys[k]->name, name, nlen) == 0)
                break;
        if (k == nkeys) { /* unknown key: ignored, as the spec requires */
            res->unknown++;
            free(big);
            continue;
        }
        if (k < EC_NOTE_MAX_SIGS && used[k]++) {
            free(big);
            return ec_error_set(EC_EFORMAT, "note: line %u: a second signature by %s+%08x", line,
                                keys[k]->name, id);
        }
        int good = sl == 4 + ED25519_SIG;
        if (good) {
            memcpy(sig, big, sl);
            good = ed25519_verify(keys[k]->pkey, note, text_len, sig + 4);
        }
        free(big);
        if (!good) {
            if (!*failed)
                snprintf(failed, sizeof failed,
                         sl == 4 + ED25519_SIG
                             ? "line %u: the signature by %s+%08x does not verify (the note "
                               "was changed or signed with another key)"
                             : "line %u: the signature by %s+%08x has the wrong length "
                               "(Ed25519 needs 64 bytes)",
                         line, keys[k]->name, id);
            continue;
        }
        if (!res->verified++)
            snprintf(res->signer, sizeof res->signer, "%s", keys[k]->name);
    }
    if (*failed)
        return ec_error_set(EC_EVERIFY, "note: %s", failed);
    if (!res->verified)
        return ec_error_set(EC_EVERIFY,
                            "note: no signature by a known key (%u signature%s by other keys)",
                            res->unknown, res->unknown == 1 ? "" : "s");
    return 0;
}
