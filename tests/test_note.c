/* tests/test_note.c: C2SP signed notes, keys, checkpoints and tlog-proof files: the C2SP
 * specification's example and an independently computed vector (tests/vectors/c2sp/), every
 * changed byte rejected, malformed input refused with a reason, then proofs and
 * `verify --since` over real chains and the periodic checkpointer. */
#include <stdint.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <evchain/proof.h>
#include "test.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(1 << 16);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

/* ---- the C2SP example ---- */

static void test_c2sp_example(void)
{
    size_t nl, kl;
    char *note = slurp("tests/vectors/c2sp/example.note", &nl);
    char *vk = slurp("tests/vectors/c2sp/example.vkey", &kl);
    REQUIRE(note && vk);
    ec_vkey *k;
    REQUIRE_OK(ec_vkey_parse(&k, vk, kl));
    CHECK(strcmp(ec_vkey_name(k), "example.com/foo") == 0);
    CHECK(ec_vkey_id(k) == 0x530d903a);
    ec_note_result r;
    CHECK_OK(ec_note_open(note, nl, &k, 1, &r));
    CHECK(r.verified == 1 && r.unknown == 0);
    CHECK(r.text_len == strlen("This is an example message.\n"));
    CHECK(strcmp(r.signer, "example.com/foo") == 0);
    /* Any changed byte anywhere makes it fail, by signature or by format. */
    int accepted = 0;
    for (size_t i = 0; i < nl; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            note[i] ^= (char)(1 << bit);
            if (ec_note_open(note, nl, &k, 1, NULL) == 0)
                accepted++;
            note[i] ^= (char)(1 << bit);
        }
    }
    CHECK(accepted == 0);
    /* A truncated note fails too. */
    for (size_t cut = 0; cut < nl; cut++)
        CHECK(ec_note_open(note, cut, &k, 1, NULL) != 0);
    /* The key with one changed character is refused (the ID no longer matches) or, when it
     * still parses, does not verify. */
    for (size_t i = 0; i < kl && vk[i] != '\n'; i++) {
        char save = vk[i];
        vk[i] = vk[i] == '.' ? '_' : '.'; /* not a hex digit of another case: a real change */
        ec_vkey *bad;
        if (ec_vkey_parse(&bad, vk, kl) == 0) {
            CHECK(ec_note_open(note, nl, &bad, 1, NULL) != 0);
            ec_vkey_free(bad);
        }
        vk[i] = save;
    }
    ec_vkey_free(k);
    free(note);
    free(vk);
}

/* ---- an independently computed vector (note_vectors.py) ---- */

#define V_NAME "evchain.test/vector"
#define V_SKEY                                                                                     \
    "PRIVATE+KEY+evchain.test/vector+ad21a967+AQABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"
#define V_VKEY "evchain.test/vector+ad21a967+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"
#define V_TEXT "evchain.test/vector\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
#define V_NOTE                                                                                     \
    V_TEXT "\n\xe2\x80\x94 evchain.test/vector "                                                   \
           "rSGpZ2L3TebQM2W2o3wJDR0ngB7vaXN+5ld5s4Na/FV1llokFw93lm4rT/pMbEm06HKuwpZKzhoQxwh1vqxX"  \
           "aX2KYQ4=\n"

static void test_python_vector(void)
{
    ec_signer *s;
    REQUIRE_OK(ec_signer_parse(&s, V_SKEY "\n", strlen(V_SKEY) + 1));
    char *t;
    REQUIRE_OK(ec_signer_vkey_text(s, &t));
    CHECK(strcmp(t, V_VKEY) == 0);
    free(t);
    REQUIRE_OK(ec_signer_text(s, &t));
    CHECK(strcmp(t, V_SKEY) == 0);
    free(t);
    uint8_t empty[32];
    ec_merkle_empty_root(empty);
    REQUIRE_OK(ec_checkpoint_text(&t, V_NAME, 0, empty));
    CHECK(strcmp(t, V_TEXT) == 0);
    char *note;
    size_t len;
    REQUIRE_OK(ec_note_sign(&note, &len, t, strlen(t), &s, 1));
    CHECK(len == strlen(V_NOTE) && memcmp(note, V_NOTE, len) == 0);
    free(note);
    free(t);
    ec_vkey *k;
    REQUIRE_OK(ec_vkey_parse(&k, V_VKEY, strlen(V_VKEY)));
    ec_checkpoint cp;
    CHECK_OK(ec_checkpoint_open(&cp, V_NOTE, strlen(V_NOTE), &k, 1));
    CHECK(cp.size == 0 && memcmp(cp.root, empty, 32) == 0);
    CHECK(strcmp(cp.origin, V_NAME) == 0 && strcmp(cp.signer, V_NAME) == 0);
    ec_vkey_free(k);
    ec_signer_free(s);
    /* A private key whose ID does not match its key is refused. */
    char bad[] = V_SKEY;
    memcpy(strstr(bad, "ad21a967"), "ad21a968", 8);
    CHECK(ec_signer_parse(&s, bad, strlen(bad)) == EC_EFORMAT);
}

/* ---- generated keys and malformed notes ---- */

static void test_keys_and_notes(void)
{
    ec_signer *a, *b, *none;
    REQUIRE_OK(ec_signer_generate(&a, "a.example/log"));
    CHECK(ec_signer_generate(&none, "has space") == EC_EINVAL && !none);
    CHECK(ec_signer_generate(&none, "has+plus") == EC_EINVAL);
    CHECK(ec_signer_generate(&none, "") == EC_EINVAL);
    /* No control character (FORMAT.md 5.2): C0, DEL and the C1 range U+0080..U+009F. */
    CHECK(ec_signer_generate(&none, "has\x01ctl") == EC_EINVAL);
    CHECK(ec_signer_generate(&none, "del\x7f") == EC_EINVAL);
    CHECK(ec_signer_generate(&none, "c1\xc2\x80") == EC_EINVAL);
    CHECK(ec_signer_generate(&none, "c1\xc2\x9f") == EC_EINVAL);
    REQUIRE_OK(ec_signer_generate(&none, "past-c1\xc2\xa9")); /* U+00A9: not a control */
    ec_signer_free(none);
    REQUIRE_OK(ec_signer_generate(&b, "b.example/witness"));
    char *va, *vb, *sa;
    REQUIRE_OK(ec_signer_vkey_text(a, &va));
    REQUIRE_OK(ec_signer_vkey_text(b, &vb));
    REQUIRE_OK(ec_signer_text(a, &sa));
    ec_vkey *ka, *kb;
    REQUIRE_OK(ec_vkey_parse(&ka, va, strlen(va)));
    REQUIRE_OK(ec_vkey_parse(&kb, vb, strlen(vb)));
    ec_signer *a2;
    REQUIRE_OK(ec_signer_parse(&a2, sa, strlen(sa)));

    const char *text = "hello\n\nworld\n";
    ec_signer *both[2] = {a, b};
    char *note;
    size_t len;
    REQUIRE_OK(ec_note_sign(&note, &len, text, strlen(text), both, 2));
    ec_note_result r;
    CHECK_OK(ec_note_open(note, len, &ka, 1, &r)); /* b's signature is unknown: ignored */
    CHECK(r.verified == 1 && r.unknown == 1 && r.text_len == strlen(text));
    ec_vkey *ks[2] = {ka, kb};
    CHECK_OK(ec_note_open(note, len, ks, 2, &r));
    CHECK(r.verified == 2 && r.unknown == 0);
    CHECK(ec_note_open(note, len, &kb, 1, NULL) == 0);
    free(note);
    /* The parsed private key signs the same as the generated one (Ed25519 is deterministic). */
    char *n1, *n2;
    size_t l1, l2;
    REQUIRE_OK(ec_note_sign(&n1, &l1, text, strlen(text), &a, 1));
    REQUIRE_OK(ec_note_sign(&n2, &l2, text, strlen(text), &a2, 1));
    CHECK(l1 == l2 && memcmp(n1, n2, l1) == 0);
    free(n2);

    /* Refused texts when signing. */
    CHECK(ec_note_sign(&n2, &l2, "no newline", 10, &a, 1) == EC_EINVAL);
    CHECK(ec_note_sign(&n2, &l2, "tab\there\n", 9, &a, 1) == EC_EFORMAT);
    CHECK(ec_note_sign(&n2, &l2, "bad \xff utf8\n", 11, &a, 1) == EC_EFORMAT);

    /* Malformed notes: each refused with EC_EFORMAT, not verified. */
    const char *sigline = strstr(n1, "\xe2\x80\x94");
    REQUIRE(sigline);
    char buf[1024];
    const char *b64 = strchr(sigline + 4, ' ') + 1;
    struct bad_note {
        const char *what;
        int want;
        const char *note;
    } cases[8];
    int nc = 0;
    char c0[512], c1[512], c2[512], c3[512], c4[512], c5[512], c6[512], c7[512];
    /* missing blank line */
    snprintf(c0, sizeof c0, "hello\n%s", sigline);
    cases[nc++] = (struct bad_note){"no blank line", EC_EFORMAT, c0};
    /* bad base64 */
    snprintf(c1, sizeof c1, "%.*s!%s", (int)(b64 - n1), n1, b64 + 1);
    cases[nc++] = (struct bad_note){"bad base64", EC_EFORMAT, c1};
    /* no em dash */
    snprintf(c2, sizeof c2, "%s\n- a.example/log %s", text, b64);
    cases[nc++] = (struct bad_note){"no em dash", EC_EFORMAT, c2};
    /* no final newline */
    snprintf(c3, sizeof c3, "%.*s", (int)(l1 - 1), n1);
    cases[nc++] = (struct bad_note){"no final newline", EC_EFORMAT, c3};
    /* a control character */
    snprintf(c4, sizeof c4, "%s", n1);
    c4[2] = '\r';
    cases[nc++] = (struct bad_note){"control character", EC_EFORMAT, c4};
    /* a signature of the wrong length from the known key: one byte fewer */
    {
        /* base64 of key ID + 64 bytes is 92 characters; its first 88 are 66 bytes. */
        snprintf(c5, sizeof c5, "%s\n\xe2\x80\x94 a.example/log %.88s\n", text, b64);
    }
    cases[nc++] = (struct bad_note){"short signature", EC_EVERIFY, c5};
    /* the right name with a wrong key ID: an unknown key, so nothing verifies */
    snprintf(c6, sizeof c6, "%s", n1);
    {
        char *p = strchr(strstr(c6, "\xe2\x80\x94") + 4, ' ') + 1;
        p[0] = p[0] == 'A' ? 'B' : 'A'; /* first base64 char: inside the key ID */
    }
    cases[nc++] = (struct bad_note){"wrong key id", EC_EVERIFY, c6};
    /* a signature line without a space after the name */
    snprintf(c7, sizeof c7, "%s\n\xe2\x80\x94 a.example/log\n", text);
    cases[nc++] = (struct bad_note){"no signature", EC_EFORMAT, c7};
    for (int i = 0; i < nc; i++) {
        int rc = ec_note_open(cases[i].note, strlen(cases[i].note), &ka, 1, NULL);
        if (rc != cases[i].want)
            fprintf(stderr, "case '%s': got %s\n", cases[i].what, ec_error_name(rc));
        CHECK(rc == cases[i].want);
        const ec_error *e = ec_error_last();
        CHECK(e && strncmp(e->message, "note:", 5) == 0);
    }
    /* Only unknown keys: not verified. */
    CHECK(ec_note_open(n1, l1, &kb, 1, NULL) == EC_EVERIFY);
    CHECK(strstr(ec_error_last()->message, "no signature by a known key"));
    /* The same known key twice. */
    snprintf(buf, sizeof buf, "%s%s", n1, sigline);
    CHECK(ec_note_open(buf, strlen(buf), &ka, 1, NULL) == EC_EFORMAT);
    /* More than 100 signature lines. */
    {
        size_t cap = 200 * 130 + 64, o = 0;
        char *big = malloc(cap);
        o += (size_t)snprintf(big + o, cap - o, "%s\n", text);
        for (int i = 0; i < 101; i++)
            o += (size_t)snprintf(big + o, cap - o, "\xe2\x80\x94 k%d.example %s", i, b64);
        CHECK(ec_note_open(big, o, &ka, 1, NULL) == EC_EFORMAT);
        free(big);
    }
    /* Bad verifier keys. Found by fuzz_note: a '+' inside a long key field. */
    ec_vkey *bad;
    const char *plus = "example.co/foo+530d903a+AekyeRrm56hApGFkyQR0ZCbV3a+AekyeRrm56hApGFkyQR0"
                       "ZCbV54Id2LKaANYbrnKv354Id2LKaANYbrnKv3U2k";
    CHECK(ec_vkey_parse(&bad, plus, strlen(plus)) == EC_EFORMAT);
    CHECK(ec_vkey_parse(&bad, "name+530d903a", 13) == EC_EFORMAT);
    CHECK(ec_vkey_parse(&bad, "na me+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", 59) ==
          EC_EFORMAT);
    CHECK(ec_vkey_parse(&bad,
                        "example.com/foo+530d903a+BekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
                        69) == EC_EUNSUPPORTED);
    CHECK(ec_vkey_parse(&bad,
                        "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
                        69) == EC_EFORMAT);
    free(n1);
    free(va);
    free(vb);
    free(sa);
    ec_vkey_free(ka);
    ec_vkey_free(kb);
    ec_signer_free(a);
    ec_signer_free(a2);
    ec_signer_free(b);
}

static void test_checkpoint_text(void)
{
    ec_checkpoint cp;
    const char *good = "example.com/behind-the-sofa\n20852163\n"
                       "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    REQUIRE_OK(ec_checkpoint_parse(&cp, good, strlen(good)));
    CHECK(cp.size == 20852163 && strcmp(cp.origin, "example.com/behind-the-sofa") == 0);
    const char *ext = "o\n0\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\nextension\n";
    CHECK_OK(ec_checkpoint_parse(&cp, ext, strlen(ext)));
    const char *bad[] = {
        "o\n01\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", /* leading zero */
        "o\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", /* sign */
        "o\n18446744073709551616\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", /* 2^64 */
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2=\n",                     /* 31 bytes */
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",                     /* no padding */
        "\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",       /* empty origin */
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\nx\n", /* empty extension */
        "o\n1\n",                                                    /* no root */
        "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",        /* no final newline */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = ec_checkpoint_parse(&cp, bad[i], strlen(bad[i]));
        if (rc != EC_EFORMAT)
            fprintf(stderr, "bad checkpoint %zu accepted\n", i);
        CHECK(rc == EC_EFORMAT);
    }
    /* Found by fuzz_checkpoint: a NUL or other control byte in the origin. */
    const char nul[] = "exam\0ple\n0\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    CHECK(ec_checkpoint_parse(&cp, nul, sizeof nul - 1) == EC_EFORMAT);
    char *t;
    uint8_t root[32] = {1};
    CHECK(ec_checkpoint_text(&t, "two\nlines", 1, root) == EC_EINVAL);
    CHECK(ec_checkpoint_text(&t, "", 1, root) == EC_EINVAL);
}

/* ---- over chains ---- */

static ec_chain *make_chain(size_t n, size_t fork_at)
{
    ec_backend *b;
    ec_chain *c;
    if (ec_backend_memory(&b, NULL) || ec_chain_open(&c, b, NULL))
        return NULL;
    for (size_t i = 0; i < n; i++) {
        char data[32];
        int len = snprintf(data, sizeof data, "%s %zu", i == fork_at ? "forged" : "event", i);
        ec_event_input in = {.type = "t",
                             .data = data,
                             .data_len = (size_t)len,
                             .timestamp = 1700000000000000000ull + i};
        if (ec_chain_append(c, &in, NULL, NULL)) {
            ec_chain_free(c);
            return NULL;
        }
    }
    return c;
}

static void test_tlog_proofs(void)
{
    ec_chain *c = make_chain(37, (size_t)-1);
    REQUIRE(c);
    ec_tree *t;
    REQUIRE_OK(ec_tree_open(&t, c, NULL));
    ec_signer *s;
    REQUIRE_OK(ec_signer_generate(&s, "example.org/chain"));
    char *vt;
    REQUIRE_OK(ec_signer_vkey_text(s, &vt));
    ec_vkey *k;
    REQUIRE_OK(ec_vkey_parse(&k, vt, strlen(vt)));
    char *note;
    size_t nl;
    REQUIRE_OK(ec_checkpoint_sign(&note, &nl, t, NULL, s));
    for (uint64_t seq = 0; seq < 37; seq++) {
        ec_tlog_proof *p, *q;
        REQUIRE_OK(ec_tlog_proof_build(&p, t, seq, note, nl));
        char *text;
        size_t tl;
        REQUIRE_OK(ec_tlog_proof_format(&text, &tl, p));
        REQUIRE_OK(ec_tlog_proof_parse(&q, text, tl));
        CHECK(q->index == seq && q->count == p->count && q->extra_len == p->extra_len);
        ec_event ev;
        REQUIRE_OK(ec_chain_get(c, seq, &ev));
        ec_checkpoint cp;
        CHECK_OK(ec_tlog_proof_verify(q, ev.hash, ev.hash_len, &k, 1, &cp));
        CHECK(cp.size == 37);
        /* Another event's hash, or another index, fails. */
        ec_event other;
        REQUIRE_OK(ec_chain_get(c, (seq + 1) % 37, &other));
        CHECK(ec_tlog_proof_verify(q, other.hash, other.hash_len, &k, 1, NULL) == EC_EVERIFY);
        q->index = (seq + 5) % 37;
        CHECK(ec_tlog_proof_verify(q, ev.hash, ev.hash_len, &k, 1, NULL) == EC_EVERIFY);
        q->index = 37; /* past the tree size */
        CHECK(ec_tlog_proof_verify(q, ev.hash, ev.hash_len, &k, 1, NULL) == EC_EVERIFY);
        CHECK(strstr(ec_error_last()->message, "past the checkpoint"));
        ec_tlog_proof_free(q);
        /* A proof with one hash fewer or one more. */
        if (seq == 11) {
            char *cut = strstr(text, "index 11\n") + 9;
            char *nl2 = strchr(cut, '\n');
            memmove(cut, nl2 + 1, strlen(nl2 + 1) + 1);
            REQUIRE_OK(ec_tlog_proof_parse(&q, text, strlen(text)));
            CHECK(ec_tlog_proof_verify(q, ev.hash, ev.hash_len, &k, 1, NULL) == EC_EVERIFY);
            ec_tlog_proof_free(q);
        }
        free(text);
        ec_tlog_proof_free(p);
    }
    /* Proofs against an older checkpoint after the chain grew. */
    for (int i = 0; i < 10; i++) {
        ec_event_input in = {.type = "later", .data = "x", .data_len = 1};
        REQUIRE_OK(ec_chain_append(c, &in, NULL, NULL));
    }
    REQUIRE_OK(ec_tree_sync(t));
    ec_tlog_proof *p;
    REQUIRE_OK(ec_tlog_proof_build(&p, t, 36, note, nl));
    ec_event ev;
    REQUIRE_OK(ec_chain_get(c, 36, &ev));
    CHECK_OK(ec_tlog_proof_verify(p, ev.hash, ev.hash_len, &k, 1, NULL));
    ec_tlog_proof_free(p);
    CHECK(ec_tlog_proof_build(&p, t, 40, note, nl) == EC_EINVAL); /* after the checkpoint */
    /* A checkpoint of another chain is refused when building. */
    ec_chain *c2 = make_chain(37, 3);
    ec_tree *t2;
    REQUIRE_OK(ec_tree_open(&t2, c2, NULL));
    CHECK(ec_tlog_proof_build(&p, t2, 1, note, nl) == EC_EVERIFY);
    ec_tree_free(t2);
    ec_chain_free(c2);

    /* Malformed proof files. */
    const char *bad[] = {
        "c2sp.org/tlog-proof@v2\nindex 0\n\nx\n",
        "c2sp.org/tlog-proof@v1\nindex 01\n\nx\n",
        "c2sp.org/tlog-proof@v1\nindex 1\nAAAA\n\nx\n",
        "c2sp.org/tlog-proof@v1\nextra !!!!\nindex 1\n\nx\n",
        "c2sp.org/tlog-proof@v1\nindex 1\n",
        "c2sp.org/tlog-proof@v1\nindex 1\n\n",
        "c2sp.org/tlog-proof@v1\nidx 1\n\nx\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ec_tlog_proof *q;
        CHECK(ec_tlog_proof_parse(&q, bad[i], strlen(bad[i])) == EC_EFORMAT);
    }
    {
        /* 65 hash lines: more than any tree needs. */
        char big[8192];
        size_t o = (size_t)snprintf(big, sizeof big, "c2sp.org/tlog-proof@v1\nindex 0\n");
        for (int i = 0; i < 65; i++)
            o += (size_t)snprintf(big + o, sizeof big - o,
                                  "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n");
        o += (size_t)snprintf(big + o, sizeof big - o, "\nx\n");
        ec_tlog_proof *q;
        CHECK(ec_tlog_proof_parse(&q, big, o) == EC_EFORMAT);
    }
    free(note);
    free(vt);
    ec_vkey_free(k);
    ec_signer_free(s);
    ec_tree_free(t);
    ec_chain_free(c);
}

static void test_since(void)
{
    ec_chain *c = make_chain(20, (size_t)-1);
    REQUIRE(c);
    ec_tree *t;
    REQUIRE_OK(ec_tree_open(&t, c, NULL));
    ec_signer *s;
    REQUIRE_OK(ec_signer_generate(&s, "example.org/since"));
    char *vt;
    REQUIRE_OK(ec_signer_vkey_text(s, &vt));
    ec_vkey *k;
    REQUIRE_OK(ec_vkey_parse(&k, vt, strlen(vt)));
    char *note;
    size_t nl;
    REQUIRE_OK(ec_checkpoint_sign(&note, &nl, t, NULL, s));
    ec_tree_free(t);
    ec_since_result r;
    CHECK_OK(ec_proof_verify_since(c, note, nl, &k, 1, NULL, &r));
    CHECK(r.status == EC_SINCE_OK && r.proof_count == 0);

    ec_chain *longer = make_chain(33, (size_t)-1);
    CHECK_OK(ec_proof_verify_since(longer, note, nl, &k, 1, NULL, &r));
    CHECK(r.status == EC_SINCE_OK && r.proof_count > 0 && r.chain_size == 33);

    ec_chain *cut = make_chain(12, (size_t)-1);
    CHECK(ec_proof_verify_since(cut, note, nl, &k, 1, NULL, &r) == EC_EVERIFY);
    CHECK(r.status == EC_SINCE_TRUNCATED && strstr(r.reason, "truncated"));

    ec_chain *fork = make_chain(25, 14);
    CHECK(ec_proof_verify_since(fork, note, nl, &k, 1, NULL, &r) == EC_EVERIFY);
    CHECK(r.status == EC_SINCE_FORKED && strstr(r.reason, "forked"));
    /* Rewritten after the checkpoint's last event: still extends it. */
    ec_chain *late = make_chain(25, 22);
    CHECK_OK(ec_proof_verify_since(late, note, nl, &k, 1, NULL, &r));

    /* An unknown key or a changed checkpoint byte: not trusted. */
    ec_signer *o;
    REQUIRE_OK(ec_signer_generate(&o, "example.org/since"));
    char *ot;
    REQUIRE_OK(ec_signer_vkey_text(o, &ot));
    ec_vkey *ok;
    REQUIRE_OK(ec_vkey_parse(&ok, ot, strlen(ot)));
    CHECK(ec_proof_verify_since(c, note, nl, &ok, 1, NULL, &r) == EC_EVERIFY);
    /* signature_unchecked (a chain directory's own checkpoints/latest, no key): the same
     * consistency verdicts without keys, saying the signature was not checked; a version 1
     * struct has no such field and checks the signature. */
    ec_since_options so = EC_SINCE_OPTIONS_INIT;
    so.signature_unchecked = 1;
    CHECK_OK(ec_proof_verify_since(longer, note, nl, NULL, 0, &so, &r));
    CHECK(r.status == EC_SINCE_OK && r.proof_count > 0 && r.checkpoint.size == 20);
    CHECK(strcmp(r.checkpoint.signer, "example.org/since") == 0);
    CHECK(strstr(r.reason, "signature not checked") != NULL);
    CHECK_OK(ec_proof_verify_since(c, note, nl, &ok, 1, &so, &r)); /* any key: not looked at */
    CHECK(ec_proof_verify_since(cut, note, nl, NULL, 0, &so, &r) == EC_EVERIFY);
    CHECK(r.status == EC_SINCE_TRUNCATED && strstr(r.reason, "(signature not checked) covers 20"));
    CHECK(ec_proof_verify_since(fork, note, nl, NULL, 0, &so, &r) == EC_EVERIFY);
    CHECK(r.status == EC_SINCE_FORKED && strstr(r.reason, "forked") &&
          strstr(r.reason, "signature not checked"));
    CHECK(ec_proof_verify_since(c, "x\n\n", 3, NULL, 0, &so, &r) == EC_EFORMAT);
    so.version = 1;
    CHECK(ec_proof_verify_since(c, note, nl, &ok, 1, &so, &r) == EC_EVERIFY);
    note[strlen("example.org/since\n")] = '3'; /* the size line */
    CHECK(ec_proof_verify_since(c, note, nl, &k, 1, NULL, &r) == EC_EVERIFY);

    ec_vkey_free(ok);
    free(ot);
    ec_signer_free(o);
    ec_chain_free(longer);
    ec_chain_free(cut);
    ec_chain_free(fork);
    ec_chain_free(late);
    free(note);
    free(vt);
    ec_vkey_free(k);
    ec_signer_free(s);
    ec_chain_free(c);
}

static void test_checkpointer(void)
{
    char dir[64] = "/tmp/ec_note_XXXXXX";
    REQUIRE(mkdtemp(dir));
    char cdir[128];
    snprintf(cdir, sizeof cdir, "%s/checkpoints", dir);
    ec_chain *c = make_chain(0, (size_t)-1);
    REQUIRE(c);
    ec_tree *t;
    REQUIRE_OK(ec_tree_open(&t, c, NULL));
    ec_signer *s;
    REQUIRE_OK(ec_signer_generate(&s, "example.org/cp"));
    ec_checkpointer_options o = EC_CHECKPOINTER_OPTIONS_INIT;
    o.every_events = 5;
    o.dir = cdir;
    ec_checkpointer *cp;
    REQUIRE_OK(ec_checkpointer_new(&cp, t, s, &o));
    int writes = 0;
    for (int i = 0; i < 23; i++) {
        ec_event_input in = {.type = "e", .data = "d", .data_len = 1};
        REQUIRE_OK(ec_chain_append(c, &in, NULL, NULL));
        int w;
        REQUIRE_OK(ec_checkpointer_tick(cp, &w));
        writes += w;
        CHECK(w == ((i + 1) % 5 == 0));
    }
    CHECK(writes == 4);
    size_t len;
    const char *last = ec_checkpointer_last(cp, &len);
    REQUIRE(last);
    char path[512];
    snprintf(path, sizeof path, "%s/latest", cdir);
    size_t fl;
    char *file = slurp(path, &fl);
    REQUIRE(file);
    CHECK(fl == len && memcmp(file, last, len) == 0);
    char *vt;
    REQUIRE_OK(ec_signer_vkey_text(s, &vt));
    ec_vkey *k;
    REQUIRE_OK(ec_vkey_parse(&k, vt, strlen(vt)));
    ec_checkpoint ck;
    CHECK_OK(ec_checkpoint_open(&ck, file, fl, &k, 1));
    CHECK(ck.size == 20);
    free(file);
    ec_checkpointer_free(cp);

    /* Time-based: every 1 ns means every tick with new events writes one. */
    o.every_events = 0;
    o.every_ns = 1;
    REQUIRE_OK(ec_checkpointer_new(&cp, t, s, &o));
    int w;
    REQUIRE_OK(ec_checkpointer_tick(cp, &w));
    CHECK(w == 1); /* 23 > the 20 of `latest` */
    REQUIRE_OK(ec_checkpointer_tick(cp, &w));
    CHECK(w == 0); /* nothing new */
    ec_checkpointer_free(cp);

    /* A log's origin never changes: asked for another one, a checkpointer of a folder that
     * has checkpoints (origin: the key's name) signs with theirs; without a folder, the one
     * asked for. */
    o.origin = "example.org/cp/other";
    REQUIRE_OK(ec_checkpointer_new(&cp, t, s, &o));
    REQUIRE_OK(ec_checkpointer_write(cp, 1));
    last = ec_checkpointer_last(cp, &len);
    REQUIRE(last);
    CHECK(len > 15 && memcmp(last, "example.org/cp\n", 15) == 0);
    ec_checkpointer_free(cp);
    o.dir = NULL;
    REQUIRE_OK(ec_checkpointer_new(&cp, t, s, &o));
    REQUIRE_OK(ec_checkpointer_write(cp, 1));
    last = ec_checkpointer_last(cp, &len);
    REQUIRE(last);
    CHECK(len > 21 && memcmp(last, "example.org/cp/other\n", 21) == 0);
    ec_checkpointer_free(cp);
    o.dir = cdir;
    o.origin = NULL;

    /* Never a checkpoint inconsistent with the last one: not for a rewritten chain, not for
     * a shorter one. */
    ec_chain *forked = make_chain(0, (size_t)-1);
    REQUIRE(forked);
    for (int i = 0; i < 30; i++) {
        ec_event_input in = {.type = i == 4 ? "E" : "e", .data = "d", .data_len = 1};
        REQUIRE_OK(ec_chain_append(forked, &in, NULL, NULL));
    }
    ec_tree *ft;
    REQUIRE_OK(ec_tree_open(&ft, forked, NULL));
    REQUIRE_OK(ec_checkpointer_new(&cp, ft, s, &o));
    CHECK(ec_checkpointer_write(cp, 1) == EC_EVERIFY);
    CHECK(strstr(ec_error_last()->message, "refusing to sign"));
    /* a tree derived from the chain: the chain was rewritten, which no rebuild undoes */
    CHECK(strstr(ec_error_last()->message, "the chain was rewritten since"));
    CHECK(!strstr(ec_error_last()->message, "rebuild it"));
    CHECK(ec_checkpointer_tick(cp, &w) == EC_EVERIFY);
    ec_checkpointer_free(cp);
    ec_tree_free(ft);
    ec_chain_free(forked);
    ec_chain *shorter = make_chain(0, (size_t)-1);
    REQUIRE(shorter);
    for (int i = 0; i < 10; i++) {
        ec_event_input in = {.type = "e", .data = "d", .data_len = 1};
        REQUIRE_OK(ec_chain_append(shorter, &in, NULL, NULL));
    }
    REQUIRE_OK(ec_tree_open(&ft, shorter, NULL));
    REQUIRE_OK(ec_checkpointer_new(&cp, ft, s, &o));
    CHECK(ec_checkpointer_tick(cp, &w) == EC_EVERIFY);
    CHECK(strstr(ec_error_last()->message, "truncated"));
    ec_checkpointer_free(cp);
    ec_tree_free(ft);
    ec_chain_free(shorter);

    /* The folder holds the numbered checkpoints and `latest`. */
    DIR *d = opendir(cdir);
    REQUIRE(d);
    int files = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        files++;
        snprintf(path, sizeof path, "%s/%s", cdir, de->d_name);
        unlink(path);
    }
    closedir(d);
    CHECK(files == 6);
    rmdir(cdir);
    rmdir(dir);
    free(vt);
    ec_vkey_free(k);
    ec_signer_free(s);
    ec_tree_free(t);
    ec_chain_free(c);
}

/* The runtime's set-up: a disk chain directory, checkpoints every 10 events or 1 ns. */
static void test_checkpointer_open(void)
{
    char dir[64] = "/tmp/ec_note_dir_XXXXXX";
    REQUIRE(mkdtemp(dir));
    char cdir[128], path[256];
    snprintf(cdir, sizeof cdir, "%s/chain", dir);
    ec_disk_options dopt = EC_DISK_OPTIONS_INIT;
    dopt.create = 1;
    dopt.durability = EC_DURABLE_NONE;
    ec_backend *b;
    ec_chain *c;
    REQUIRE_OK(ec_backend_disk(&b, cdir, &dopt));
    REQUIRE_OK(ec_chain_open(&c, b, NULL));
    ec_signer *s;
    REQUIRE_OK(ec_signer_generate(&s, "example.org/runtime"));
    ec_checkpointer_options o = EC_CHECKPOINTER_OPTIONS_INIT;
    o.every_events = 10;
    ec_checkpointer *cp;
    REQUIRE_OK(ec_checkpointer_open(&cp, c, cdir, s, &o));
    int writes = 0, w;
    for (int i = 0; i < 35; i++) {
        ec_event_input in = {.type = "actor/event", .data = "x", .data_len = 1};
        REQUIRE_OK(ec_chain_append(c, &in, NULL, NULL));
        REQUIRE_OK(ec_checkpointer_tick(cp, &w));
        writes += w;
    }
    CHECK(writes == 3);
    REQUIRE_OK(ec_checkpointer_write(cp, 0)); /* at close: the last 5 events too */
    ec_checkpointer_free(cp);
    snprintf(path, sizeof path, "%s/checkpoints/latest", cdir);
    size_t len;
    char *note = slurp(path, &len);
    REQUIRE(note);
    char *vt;
    REQUIRE_OK(ec_signer_vkey_text(s, &vt));
    ec_vkey *k;
    REQUIRE_OK(ec_vkey_parse(&k, vt, strlen(vt)));
    ec_since_result r;
    CHECK_OK(ec_proof_verify_since(c, note, len, &k, 1, NULL, &r));
    CHECK(r.checkpoint.size == 35);
    snprintf(path, sizeof path, "%s/proof/tree", cdir);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size == 32);
    /* Reopened, it resumes from `latest`: nothing new, nothing written. */
    REQUIRE_OK(ec_checkpointer_open(&cp, c, cdir, s, &o));
    REQUIRE_OK(ec_checkpointer_tick(cp, &w));
    CHECK(w == 0);
    ec_checkpointer_free(cp);
    free(note);
    free(vt);
    ec_vkey_free(k);
    ec_signer_free(s);
    ec_chain_free(c);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* A checkpoint never names events a crash can take back. An HTTP handler's appends return
 * at commit (the deferred wrapper), their records still in the writer's memory until the
 * releaser's sync: a checkpoint written then, followed by a crash, would claim more events
 * than the chain keeps, and signing would be refused from then on. So the checkpointer
 * waits for the chain's durability first: a second handle reading the directory finds every
 * event each checkpoint names. Under `none` (no sync of its own) the events are at least
 * written first: the reader finds them too (it did not: they waited in the writer's 1 MiB
 * buffer, and verify then called the chain truncated below its own `latest`). */
static void checkpoint_after_durable(ec_durability dur)
{
    char dir[64] = "/tmp/ec_note_dur_XXXXXX";
    REQUIRE(mkdtemp(dir));
    char cdir[128];
    snprintf(cdir, sizeof cdir, "%s/chain", dir);
    ec_disk_options dopt = EC_DISK_OPTIONS_INIT;
    dopt.create = 1;
    dopt.durability = dur;
    ec_backend *inner, *b;
    ec_chain *c;
    REQUIRE_OK(ec_backend_disk(&inner, cdir, &dopt));
    REQUIRE_OK(ec_backend_deferred(&b, inner));
    REQUIRE_OK(ec_chain_open(&c, b, NULL));
    ec_backend_deferred_set(b, 1);
    ec_signer *s;
    REQUIRE_OK(ec_signer_generate(&s, "example.org/runtime"));
    ec_checkpointer_options o = EC_CHECKPOINTER_OPTIONS_INIT;
    o.every_events = 10;
    ec_checkpointer *cp;
    REQUIRE_OK(ec_checkpointer_open(&cp, c, cdir, s, &o));
    int writes = 0, short_of = 0;
    for (int i = 0; i < 35; i++) {
        ec_event_input in = {.type = "http/request", .data = "x", .data_len = 1};
        REQUIRE_OK(ec_chain_append(c, &in, NULL, NULL));
        int w;
        REQUIRE_OK(ec_checkpointer_tick(cp, &w));
        if (!w)
            continue;
        writes++;
        ec_disk_options ro = EC_DISK_OPTIONS_INIT;
        ro.read_only = 1;
        ec_backend *rb;
        ec_chain *rc;
        REQUIRE_OK(ec_backend_disk(&rb, cdir, &ro));
        REQUIRE_OK(ec_chain_open(&rc, rb, NULL));
        short_of += ec_chain_count(rc) < (uint64_t)i + 1;
        ec_chain_free(rc);
    }
    CHECK(writes == 3 && short_of == 0);
    ec_checkpointer_free(cp);
    ec_signer_free(s);
    ec_chain_free(c);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static void test_checkpoint_after_durable(void)
{
    checkpoint_after_durable(EC_DURABLE_BATCH);
}

static void test_checkpoint_after_written_none(void)
{
    checkpoint_after_durable(EC_DURABLE_NONE);
}

/* The numbered files in a checkpoint folder, as a string of sizes "16 18 20", ascending
 * (readdir's order is not); other names are counted in *others. */
static void numbered_files(const char *cdir, char *out, size_t cap, int *others)
{
    uint64_t sizes[64];
    size_t n = 0;
    *others = 0;
    DIR *d = opendir(cdir);
    REQUIRE(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        unsigned long long v;
        char tail[32];
        if (de->d_name[0] == '.')
            continue;
        if (strlen(de->d_name) == 31 && sscanf(de->d_name, "%20llu%31s", &v, tail) == 2 &&
            strcmp(tail, ".checkpoint") == 0 && n < 64)
            sizes[n++] = v;
        else
            (*others)++;
    }
    closedir(d);
    for (size_t i = 1; i < n; i++) /* insertion sort: a handful of entries */
        for (size_t j = i; j > 0 && sizes[j - 1] > sizes[j]; j--) {
            uint64_t t = sizes[j];
            sizes[j] = sizes[j - 1];
            sizes[j - 1] = t;
        }
    size_t at = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && at < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%llu", i ? " " : "",
                               (unsigned long long)sizes[i]);
}

/* Retention: only the newest `keep` numbered checkpoints stay, across reopenings; other files
 * are left alone; a version 1 options struct (before `keep`) keeps all. */
static void test_checkpointer_keep(void)
{
    char dir[64] = "/tmp/ec_note_keep_XXXXXX";
    REQUIRE(mkdtemp(dir));
    char cdir[128], path[512], got[512];
    snprintf(cdir, sizeof cdir, "%s/checkpoints", dir);
    REQUIRE(mkdir(cdir, 0755) == 0);
    /* names that are not numbered checkpoints: never removed */
    const char *strangers[] = {"notes.txt", "123.checkpoint", "0000000000000000000x.checkpoint"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", cdir, strangers[i]);
        FILE *f = fopen(path, "w");
        REQUIRE(f);
        fclose(f);
    }
    ec_chain *c = make_chain(0, (size_t)-1);
    REQUIRE(c);
    ec_tree *t;
    REQUIRE_OK(ec_tree_open(&t, c, NULL));
    ec_signer *s;
    REQUIRE_OK(ec_signer_generate(&s, "example.org/keep"));
    ec_checkpointer_options o = EC_CHECKPOINTER_OPTIONS_INIT;
    o.every_events = 2;
    o.dir = cdir;
    o.keep = 3;
    ec_checkpointer *cp;
    REQUIRE_OK(ec_checkpointer_new(&cp, t, s, &o));
    int others, w;
    for (int i = 0; i < 20; i++) {
        ec_event_input in = {.type = "e", .data = "d", .data_len = 1};
        REQUIRE_OK(ec_chain_append(c, &in, NULL, NULL));
        REQUIRE_OK(ec_checkpointer_tick(cp, &w));
        if (i == 3) { /* two written so far: nothing removed yet */
            numbered_files(cdir, got, sizeof got, &others);
            CHECK(strcmp(got, "2 4") == 0);
        }
    }
    numbered_files(cdir, got, sizeof got, &others);
    CHECK(strcmp(got, "16 18 20") == 0);
    CHECK(others == 4);                       /* the three strangers and `latest` */
    REQUIRE_OK(ec_checkpointer_write(cp, 1)); /* a forced rewrite at the same size */
    numbered_files(cdir, got, sizeof got, &others);
    CHECK(strcmp(got, "16 18 20") == 0);
    /* `latest` is a second name of the newest numbered file (one write, one sync for both);
     * where that link cannot be made (here: its temporary name is taken by a directory), a
     * copy, the same bytes. */
    struct stat st, st20;
    char lpath[600], npath[600], tmpdir[600];
    snprintf(lpath, sizeof lpath, "%s/latest", cdir);
    snprintf(npath, sizeof npath, "%s/00000000000000000020.checkpoint", cdir);
    REQUIRE(stat(lpath, &st) == 0 && stat(npath, &st20) == 0);
    CHECK(st.st_ino == st20.st_ino && st.st_nlink == 2 && (st.st_mode & 0777) == 0644);
    snprintf(tmpdir, sizeof tmpdir, "%s/.latest.%ld", cdir, (long)getpid());
    REQUIRE(mkdir(tmpdir, 0755) == 0);
    ec_event_input more = {.type = "e", .data = "d", .data_len = 1};
    REQUIRE_OK(ec_chain_append(c, &more, NULL, NULL));
    REQUIRE_OK(ec_tree_sync(t));
    REQUIRE_OK(ec_checkpointer_write(cp, 0));
    snprintf(npath, sizeof npath, "%s/00000000000000000021.checkpoint", cdir);
    size_t ll, nl;
    char *lb = slurp(lpath, &ll), *nb = slurp(npath, &nl);
    REQUIRE(lb && nb);
    CHECK(ll == nl && memcmp(lb, nb, ll) == 0);
    REQUIRE(stat(lpath, &st) == 0 && stat(npath, &st20) == 0);
    CHECK(st.st_ino != st20.st_ino && st.st_nlink == 1 && (st.st_mode & 0777) == 0644);
    free(lb);
    free(nb);
    REQUIRE(rmdir(tmpdir) == 0);
    numbered_files(cdir, got, sizeof got, &others);
    CHECK(strcmp(got, "18 20 21") == 0);
    ec_checkpointer_free(cp);

    /* Reopened with a smaller keep: the files of the earlier run count. */
    o.keep = 2;
    REQUIRE_OK(ec_checkpointer_new(&cp, t, s, &o));
    for (int i = 0; i < 2; i++) {
        ec_event_input in = {.type = "e", .data = "d", .data_len = 1};
        REQUIRE_OK(ec_chain_append(c, &in, NULL, NULL));
    }
    REQUIRE_OK(ec_checkpointer_tick(cp, &w));
    CHECK(w == 1);
    numbered_files(cdir, got, sizeof got, &others);
    CHECK(strcmp(got, "21 23") == 0);
    ec_checkpointer_free(cp);

    /* Version 1 of the options has no `keep`: whatever follows its fields is not read. */
    o.version = 1;
    o.keep = 1;
    REQUIRE_OK(ec_checkpointer_new(&cp, t, s, &o));
    for (int i = 0; i < 4; i++) {
        ec_event_input in = {.type = "e", .data = "d", .data_len = 1};
        REQUIRE_OK(ec_chain_append(c, &in, NULL, NULL));
        REQUIRE_OK(ec_checkpointer_tick(cp, &w));
    }
    numbered_files(cdir, got, sizeof got, &others);
    CHECK(strcmp(got, "21 23 25 27") == 0);
    ec_checkpointer_free(cp);
    o.version = EC_CHECKPOINTER_OPTIONS_VERSION + 1;
    CHECK(ec_checkpointer_new(&cp, t, s, &o) == EC_EUNSUPPORTED);

    DIR *d = opendir(cdir);
    REQUIRE(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", cdir, de->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(cdir);
    rmdir(dir);
    ec_signer_free(s);
    ec_tree_free(t);
    ec_chain_free(c);
}

/* A checkpointer writes `size` events' checkpoint into cdir with this signer and origin; its
 * return code. */
static int write_into(const char *cdir, ec_tree *t, ec_signer *s, const char *origin,
                      unsigned version, int replace)
{
    ec_checkpointer_options o = EC_CHECKPOINTER_OPTIONS_INIT;
    o.version = version;
    o.dir = cdir;
    o.origin = origin;
    o.replace = replace;
    ec_checkpointer *cp;
    int rc = ec_checkpointer_new(&cp, t, s, &o);
    if (rc == 0)
        rc = ec_checkpointer_write(cp, 1);
    ec_checkpointer_free(cp);
    return rc;
}

/* One size, one stored checkpoint: a different one of the same size (another key, another
 * origin) is refused, nothing written, unless `replace`; the same one again is not. */
static void test_checkpointer_same_size(void)
{
    char dir[64] = "/tmp/ec_note_same_XXXXXX";
    REQUIRE(mkdtemp(dir));
    char cdir[128], num[200], lat[200];
    snprintf(cdir, sizeof cdir, "%s/checkpoints", dir);
    snprintf(num, sizeof num, "%s/00000000000000000005.checkpoint", cdir);
    snprintf(lat, sizeof lat, "%s/latest", cdir);
    ec_chain *c = make_chain(5, (size_t)-1);
    REQUIRE(c);
    ec_tree *t;
    REQUIRE_OK(ec_tree_open(&t, c, NULL));
    ec_signer *a, *b;
    REQUIRE_OK(ec_signer_generate(&a, "example.org/a"));
    REQUIRE_OK(ec_signer_generate(&b, "example.org/b"));
    REQUIRE_OK(write_into(cdir, t, a, NULL, EC_CHECKPOINTER_OPTIONS_VERSION, 0));
    size_t al, l;
    char *first = slurp(num, &al), *now;
    REQUIRE(first);
    CHECK_OK(write_into(cdir, t, a, NULL, EC_CHECKPOINTER_OPTIONS_VERSION, 0)); /* the same */
    /* another key (the origin is latest's): refused, both names unchanged */
    CHECK(write_into(cdir, t, b, NULL, EC_CHECKPOINTER_OPTIONS_VERSION, 0) == EC_EEXISTS);
    CHECK(strstr(ec_error_last()->message, "00000000000000000005.checkpoint: another checkpoint "
                                           "of 5 events is stored there (signed by "
                                           "example.org/a, this one by example.org/b)"));
    now = slurp(num, &l);
    CHECK(now && l == al && memcmp(now, first, al) == 0);
    free(now);
    now = slurp(lat, &l);
    CHECK(now && l == al && memcmp(now, first, al) == 0);
    free(now);
    /* with `latest` gone the numbered file still fixes the origin (ec_checkpoint_stored: a
     * log's origin never changes): the same checkpoint again, `latest` back */
    REQUIRE(unlink(lat) == 0);
    CHECK_OK(write_into(cdir, t, a, "example.org/else", EC_CHECKPOINTER_OPTIONS_VERSION, 0));
    now = slurp(lat, &l);
    CHECK(now && l == al && memcmp(now, first, al) == 0);
    free(now);
    /* another origin: a `latest` of that size that is a copy of another origin's checkpoint,
     * not the numbered file's second name, gives it; the numbered file is not replaced */
    char odir[128], olat[200];
    snprintf(odir, sizeof odir, "%s/other", dir);
    snprintf(olat, sizeof olat, "%s/latest", odir);
    REQUIRE_OK(write_into(odir, t, a, "example.org/else", EC_CHECKPOINTER_OPTIONS_VERSION, 0));
    size_t ol;
    char *other = slurp(olat, &ol);
    REQUIRE(other);
    REQUIRE(unlink(lat) == 0);
    FILE *f = fopen(lat, "wb");
    REQUIRE(f && fwrite(other, 1, ol, f) == ol && fclose(f) == 0);
    free(other);
    CHECK(write_into(cdir, t, a, NULL, EC_CHECKPOINTER_OPTIONS_VERSION, 0) == EC_EEXISTS);
    CHECK(
        strstr(ec_error_last()->message, "(origin 'example.org/a', this one 'example.org/else')"));
    now = slurp(num, &l);
    CHECK(now && l == al && memcmp(now, first, al) == 0);
    free(now);
    REQUIRE(unlink(lat) == 0);
    /* a version 2 struct has no `replace`: what follows its fields is not read */
    CHECK(write_into(cdir, t, b, NULL, 2, 1) == EC_EEXISTS);
    /* replace: B's checkpoint under both names */
    CHECK_OK(write_into(cdir, t, b, NULL, EC_CHECKPOINTER_OPTIONS_VERSION, 1));
    now = slurp(num, &l);
    CHECK(now && (l != al || memcmp(now, first, al) != 0));
    free(now);
    /* `latest` alone at that size (the numbered file gone) is not replaced either */
    REQUIRE(unlink(num) == 0);
    CHECK(write_into(cdir, t, a, NULL, EC_CHECKPOINTER_OPTIONS_VERSION, 0) == EC_EEXISTS);
    CHECK(strstr(ec_error_last()->message, "latest: another checkpoint"));
    CHECK(access(num, F_OK) != 0);
    free(first);
    ec_tree_free(t);
    ec_chain_free(c);
    ec_signer_free(a);
    ec_signer_free(b);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* Write len bytes to path (replacing it), for the tests that plant files. */
static int put_file(const char *path, const char *data, size_t len)
{
    unlink(path);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* ec_checkpoint_stored: the checkpoint a chain directory's writers keep to. `latest`; a newer
 * numbered one (a crash before `latest` was linked to it); the newest numbered one that
 * parses when `latest` was removed; none when the folder is gone (set aside). The
 * checkpointer keeps to the same one: with `latest` removed it still refuses to sign a chain
 * cut back below the numbered checkpoints. */
static void test_checkpoint_stored(void)
{
    char dir[64] = "/tmp/ec_note_stored_XXXXXX";
    REQUIRE(mkdtemp(dir));
    char cdir[128], n3[200], n5[200], n9[200], lat[200], file[300];
    snprintf(cdir, sizeof cdir, "%s/checkpoints", dir);
    snprintf(n3, sizeof n3, "%s/00000000000000000003.checkpoint", cdir);
    snprintf(n5, sizeof n5, "%s/00000000000000000005.checkpoint", cdir);
    snprintf(n9, sizeof n9, "%s/00000000000000000009.checkpoint", cdir);
    snprintf(lat, sizeof lat, "%s/latest", cdir);
    char *note = (char *)1;
    size_t len = 1;
    ec_checkpoint cp;
    /* no folder: none */
    CHECK_OK(ec_checkpoint_stored(dir, &note, &len, &cp, file, sizeof file));
    CHECK(note == NULL && file[0] == 0 && cp.size == 0);
    ec_signer *a;
    REQUIRE_OK(ec_signer_generate(&a, "example.org/a"));
    ec_chain *c3 = make_chain(3, (size_t)-1), *c5 = make_chain(5, (size_t)-1);
    REQUIRE(c3 && c5);
    ec_tree *t3, *t5;
    REQUIRE_OK(ec_tree_open(&t3, c3, NULL));
    REQUIRE_OK(ec_tree_open(&t5, c5, NULL));
    REQUIRE_OK(write_into(cdir, t3, a, NULL, EC_CHECKPOINTER_OPTIONS_VERSION, 0));
    REQUIRE_OK(write_into(cdir, t5, a, NULL, EC_CHECKPOINTER_OPTIONS_VERSION, 0));
    size_t l3, l5;
    char *cp3 = slurp(n3, &l3), *cp5 = slurp(n5, &l5);
    REQUIRE(cp3 && cp5);
    /* latest, the second name of the newest */
    CHECK_OK(ec_checkpoint_stored(dir, &note, &len, &cp, file, sizeof file));
    CHECK(note && len == l5 && memcmp(note, cp5, l5) == 0 && cp.size == 5);
    CHECK(strcmp(file, lat) == 0);
    free(note);
    /* latest removed: the newest numbered one */
    REQUIRE(unlink(lat) == 0);
    CHECK_OK(ec_checkpoint_stored(dir, &note, &len, &cp, file, sizeof file));
    CHECK(note && cp.size == 5 && strcmp(file, n5) == 0);
    free(note);
    /* latest rolled back to 3 (or not yet linked to 5): the newer numbered one */
    REQUIRE(put_file(lat, cp3, l3) == 0);
    CHECK_OK(ec_checkpoint_stored(dir, &note, &len, &cp, file, sizeof file));
    CHECK(note && cp.size == 5 && strcmp(file, n5) == 0);
    free(note);
    /* a newer numbered file that does not parse, or names another size than its text: not
     * taken; the newest that does is */
    REQUIRE(unlink(lat) == 0);
    REQUIRE(put_file(n9, "example.org/a\nnine\n", 19) == 0);
    CHECK_OK(ec_checkpoint_stored(dir, &note, &len, &cp, file, sizeof file));
    CHECK(note && cp.size == 5 && strcmp(file, n5) == 0);
    free(note);
    REQUIRE(put_file(n9, cp5, l5) == 0);
    CHECK_OK(ec_checkpoint_stored(dir, &note, &len, &cp, NULL, 0));
    CHECK(note && cp.size == 5);
    free(note);
    REQUIRE(unlink(n9) == 0);
    /* the checkpointer keeps to it: with latest gone, a chain of 3 events is not signed */
    ec_checkpointer_options o = EC_CHECKPOINTER_OPTIONS_INIT;
    o.dir = cdir;
    ec_checkpointer *w;
    REQUIRE_OK(ec_checkpointer_new(&w, t3, a, &o));
    CHECK(ec_checkpointer_write(w, 1) == EC_EVERIFY);
    CHECK(strstr(ec_error_last()->message, "fewer than the 5 of the last checkpoint"));
    ec_checkpointer_free(w);
    CHECK(access(lat, F_OK) != 0);
    /* a FIFO where a checkpoint should be: refused, never waited on */
    if (mkfifo(lat, 0644) == 0) {
        CHECK(ec_checkpoint_stored(dir, &note, &len, &cp, NULL, 0) == EC_EFORMAT);
        REQUIRE(unlink(lat) == 0);
    }
    free(cp3);
    free(cp5);
    ec_tree_free(t3);
    ec_tree_free(t5);
    ec_chain_free(c3);
    ec_chain_free(c5);
    ec_signer_free(a);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

/* no_store: a reader that signs (checkpoint --no-store, prove --key) reads `latest` and is
 * held to it as the storing checkpointer is, and writes nothing: no folder made, no file. */
static void test_checkpointer_no_store(void)
{
    char dir[64] = "/tmp/ec_note_nostore_XXXXXX";
    REQUIRE(mkdtemp(dir));
    char cdir[128], lat[200];
    snprintf(cdir, sizeof cdir, "%s/checkpoints", dir);
    snprintf(lat, sizeof lat, "%s/latest", cdir);
    ec_signer *s;
    REQUIRE_OK(ec_signer_generate(&s, "example.org/nostore"));
    ec_chain *c = make_chain(20, (size_t)-1), *longer = make_chain(30, (size_t)-1);
    ec_chain *cut = make_chain(12, (size_t)-1), *fork = make_chain(30, 5);
    REQUIRE(c && longer && cut && fork);
    ec_tree *t;
    ec_checkpointer_options o = EC_CHECKPOINTER_OPTIONS_INIT;
    o.dir = cdir;
    o.no_store = 1;
    ec_checkpointer *cp;
    /* nothing stored yet: signs, makes no folder */
    REQUIRE_OK(ec_tree_open(&t, c, NULL));
    REQUIRE_OK(ec_checkpointer_new(&cp, t, s, &o));
    CHECK_OK(ec_checkpointer_write(cp, 1));
    CHECK(ec_checkpointer_last(cp, NULL) != NULL);
    CHECK(access(cdir, F_OK) != 0);
    ec_checkpointer_free(cp);
    ec_tree_free(t);
    /* a stored checkpoint of 20 events */
    REQUIRE_OK(ec_tree_open(&t, c, NULL));
    REQUIRE_OK(write_into(cdir, t, s, NULL, EC_CHECKPOINTER_OPTIONS_VERSION, 0));
    ec_tree_free(t);
    size_t l0, l;
    char *stored = slurp(lat, &l0), *now;
    REQUIRE(stored);
    ec_chain *cases[3] = {longer, cut, fork};
    int want[3] = {0, EC_EVERIFY, EC_EVERIFY};
    const char *says[3] = {NULL, "(truncated)", "the chain was rewritten since"};
    for (int i = 0; i < 3; i++) {
        REQUIRE_OK(ec_tree_open(&t, cases[i], NULL));
        REQUIRE_OK(ec_checkpointer_new(&cp, t, s, &o));
        int rc = ec_checkpointer_write(cp, 1);
        CHECK(rc == want[i]);
        if (says[i])
            CHECK(strstr(ec_error_last()->message, says[i]) != NULL);
        else
            CHECK(ec_checkpointer_last(cp, NULL) != NULL);
        ec_checkpointer_free(cp);
        ec_tree_free(t);
        now = slurp(lat, &l);
        CHECK(now && l == l0 && memcmp(now, stored, l0) == 0); /* latest untouched */
        free(now);
    }
    /* only the storing run's numbered file is there (the 30-event one was not written) */
    char num[220];
    snprintf(num, sizeof num, "%s/00000000000000000030.checkpoint", cdir);
    CHECK(access(num, F_OK) != 0);
    /* a version 3 struct has no no_store: it stores */
    o.version = 3;
    REQUIRE_OK(ec_tree_open(&t, longer, NULL));
    REQUIRE_OK(ec_checkpointer_new(&cp, t, s, &o));
    CHECK_OK(ec_checkpointer_write(cp, 1));
    ec_checkpointer_free(cp);
    ec_tree_free(t);
    CHECK(access(num, F_OK) == 0);
    free(stored);
    ec_chain_free(c);
    ec_chain_free(longer);
    ec_chain_free(cut);
    ec_chain_free(fork);
    ec_signer_free(s);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

int main(void)
{
    RUN(test_c2sp_example);
    RUN(test_python_vector);
    RUN(test_keys_and_notes);
    RUN(test_checkpoint_text);
    RUN(test_tlog_proofs);
    RUN(test_since);
    RUN(test_checkpointer);
    RUN(test_checkpointer_keep);
    RUN(test_checkpointer_same_size);
    RUN(test_checkpoint_stored);
    RUN(test_checkpointer_no_store);
    RUN(test_checkpointer_open);
    RUN(test_checkpoint_after_durable);
    RUN(test_checkpoint_after_written_none);
    TEST_END();
}
