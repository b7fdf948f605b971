/* core/util.c: small byte helpers every layer uses: algorithm names, hex, base64, UTF-8
 * validation, the clock, and atomic whole-file writes. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/internal.h"

size_t ec_hash_len(ec_hash_alg alg)
{
    switch (alg) {
    case EC_HASH_SHA256:
        return 32;
    case EC_HASH_SHA1:
    case EC_HASH_THEATER_SHA1:
        return 20;
    default:
        return 0;
    }
}

const char *ec_hash_name(ec_hash_alg alg)
{
    switch (alg) {
    case EC_HASH_SHA256:
        return "sha256";
    case EC_HASH_SHA1:
        return "sha1";
    case EC_HASH_THEATER_SHA1:
        return "theater-sha1";
    default:
        return NULL;
    }
}

int ec_hash_from_name(ec_hash_alg *out, const char *name)
{
    static const ec_hash_alg all[] = {EC_HASH_SHA256, EC_HASH_SHA1, EC_HASH_THEATER_SHA1};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (name && strcmp(name, ec_hash_name(all[i])) == 0) {
            *out = all[i];
            return 0;
        }
    return ec_error_set(EC_EUNSUPPORTED, "unknown hash algorithm '%s' (sha256, sha1, theater-sha1)",
                        name ? name : "(null)");
}

void ec_hex_encode(char *out, const uint8_t *in, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ec_hex_decode(uint8_t *out, size_t outlen, const char *hex, size_t hexlen)
{
    if ((!out && outlen) || (!hex && hexlen))
        return ec_error_set(EC_EINVAL, "ec_hex_decode: %s is NULL", !hex && hexlen ? "hex" : "out");
    if (hexlen != 2 * outlen)
        return ec_error_set(EC_EFORMAT, "hex string has %zu digits, expected %zu", hexlen,
                            2 * outlen);
    for (size_t i = 0; i < outlen; i++) {
        int hi = hexval((unsigned char)hex[2 * i]), lo = hexval((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return ec_error_set(EC_EFORMAT, "bad hex digit at offset %zu",
                                2 * i + (hi < 0 ? 0 : 1));
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void ec_base64_encode(char *out, const uint8_t *in, size_t n)
{
    size_t i = 0, o = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = 0;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int ec_base64_decode(uint8_t *out, size_t *outlen, const char *in, size_t len)
{
    if (len % 4)
        return ec_error_set(EC_EFORMAT, "base64 length %zu is not a multiple of 4", len);
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            int c = (unsigned char)in[i + (size_t)k];
            if (c == '=' && i + 4 == len && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad) /* data after padding */
                return ec_error_set(EC_EFORMAT, "bad base64 padding at offset %zu", i + (size_t)k);
            v[k] = b64val(c);
            if (v[k] < 0)
                return ec_error_set(EC_EFORMAT, "bad base64 character at offset %zu",
                                    i + (size_t)k);
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        /* Canonical form only: the bits dropped by padding must be zero. */
        if ((pad == 2 && (w & 0xffff)) || (pad == 1 && (w & 0xff)))
            return ec_error_set(EC_EFORMAT, "non-canonical base64 at offset %zu", i);
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(w >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)w;
    }
    *outlen = o;
    return 0;
}

/* The length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong form, no
 * surrogate, nothing above U+10FFFF), or 0 when there is none. n > 0. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned min;
    if ((c & 0xe0) == 0xc0) {
        need = 1;
        min = 0x80;
        c &= 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        need = 2;
        min = 0x800;
        c &= 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        need = 3;
        min = 0x10000;
        c &= 0x07;
    } else {
        return 0;
    }
    if (n < need + 1) /* truncated sequence */
        return 0;
    for (size_t k = 1; k <= need; k++) {
        if ((s[k] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[k] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    return need + 1;
}

int ec_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0, k; i < n; i += k)
        if (!(k = utf8_seq_len(s + i, n - i)))
            return 0;
    return 1;
}

const char *ec_name_text_problem(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    if (!ec_utf8_valid(s, n))
        return "not valid UTF-8";
    /* C0 (with NUL), DEL and C1 (U+0080..U+009F: C2 80..C2 9F in valid UTF-8). */
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] == 0x7f || (p[i] == 0xc2 && i + 1 < n && p[i + 1] <= 0x9f))
            return "a control character";
    return NULL;
}

void ec_utf8_scrub(char *str)
{
    unsigned char *s = (unsigned char *)str;
    size_t n = strlen(str);
    for (size_t i = 0, k; i < n; i += k)
        if (!(k = utf8_seq_len(s + i, n - i))) {
            s[i] = '?';
            k = 1;
        }
}

uint64_t ec_time_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Directory of path (for fsync after rename), into buf. */
static void dir_of(const char *path, char *buf, size_t n)
{
    snprintf(buf, n, "%s", path);
    char *slash = strrchr(buf, '/');
    if (!slash)
        snprintf(buf, n, ".");
    else if (slash == buf)
        buf[1] = 0;
    else
        *slash = 0;
}

/* All of data to fd, across short writes and EINTR: 0, or the errno of the failed write. */
static int write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : EIO; /* 0 for a non-empty write: never loop on it */
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int ec_write_file_atomic(const char *path, const void *data, size_t len)
{
    char tmp[4096], dir[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
        return ec_error_set(EC_EINVAL, "%s: path too long", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return ec_error_set_errno(errno == ENOSPC ? EC_ENOSPC : EC_EIO, errno,
                                  "%s: creating temporary file", path);
    int e = write_all(fd, data, len);
    if (e) {
        close(fd);
        unlink(tmp);
        return ec_error_set_errno(e == ENOSPC ? EC_ENOSPC : EC_EIO, e, "%s: writing", path);
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        e = errno;
        unlink(tmp);
        return ec_error_set_errno(EC_EIO, e, "%s: syncing", path);
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return ec_error_set_errno(EC_EIO, e, "%s: renaming into place", path);
    }
    dir_of(path, dir, sizeof dir);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

static int copy_path(const char *path, char *out, size_t out_size)
{
    if (strlen(path) >= out_size)
        return ec_error_set(EC_EINVAL, "%s: path too long", path);
    memcpy(out, path, strlen(path) + 1);
    return 0;
}

int ec_output_resolve(const char *path, char *out, size_t out_size, int *stream)
{
    struct stat st, lst;
    EC_REFUSE_NULL2(out, stream);
    *stream = 0;
    if (!path || !*path)
        return ec_error_set(EC_EINVAL, "no output path");
    if (stat(path, &st) != 0) {
        /* Renaming onto a dangling link would replace it; following it would create a file
         * somewhere the user may not expect. Neither, then: say so. */
        if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode))
            return ec_error_set(EC_ENOTFOUND,
                                "%s: a symbolic link to a file that does not exist: neither "
                                "followed nor replaced",
                                path);
        return copy_path(path, out, out_size); /* a new file: its creation reports errors */
    }
    if (S_ISDIR(st.st_mode))
        return ec_error_set(EC_EINVAL, "%s: is a directory", path);
    if (!S_ISREG(st.st_mode)) {
        /* A rename would replace the device node or FIFO itself (as root, /dev/null). */
        *stream = 1;
        return copy_path(path, out, out_size);
    }
    if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
        char *real = realpath(path, NULL);
        if (!real)
            return ec_error_set_errno(EC_EIO, errno, "%s: resolving the symbolic link", path);
        int rc = copy_path(real, out, out_size);
        free(real);
        return rc;
    }
    return copy_path(path, out, out_size);
}

int ec_error_not_regular(const char *path, unsigned mode)
{
    return ec_error_set(EC_EFORMAT, "%s: not a regular file (%s): refused", path,
                        S_ISFIFO(mode)                   ? "a FIFO"
                        : S_ISDIR(mode)                  ? "a directory"
                        : S_ISCHR(mode) || S_ISBLK(mode) ? "a device"
                                                         : "a socket or other special file");
}

int ec_open_regular(const char *path, int flags)
{
    int fd = open(path, flags | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        ec_error_set_errno(EC_EIO, e, "%s: stat", path);
        return -2;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        ec_error_not_regular(path, st.st_mode);
        return -2;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

/* All of data to an existing device, FIFO or socket, in place. */
static int write_in_place(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return ec_error_set_errno(EC_EIO, errno, "%s: opening", path);
    int e = write_all(fd, data, len);
    if (e) {
        close(fd);
        return ec_error_set_errno(e == ENOSPC ? EC_ENOSPC : EC_EIO, e, "%s: writing", path);
    }
    if (close(fd) != 0)
        return ec_error_set_errno(EC_EIO, errno, "%s: closing", path);
    return 0;
}

int ec_write_output(const char *path, const void *data, size_t len)
{
    char real[4096];
    int stream, rc = ec_output_resolve(path, real, sizeof real, &stream);
    if (rc)
        return rc;
    return stream ? write_in_place(real, data, len) : ec_write_file_atomic(real, data, len);
}

int ec_grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return -1;
        c *= 2;
    }
    if (elem && c > SIZE_MAX / elem)
        return -1;
    void *q = realloc(*p, c * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}
