/* tests/disk_util.h: helpers the disk-backend tests share: temporary chain directories, opening
 * a chain directory, filling it with recognisable events, and file surgery for damage tests. */
#ifndef EVCHAIN_TESTS_DISK_UTIL_H
#define EVCHAIN_TESTS_DISK_UTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <evchain/evchain.h>

static inline int du_rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    return remove(p);
}

/* Remove a directory tree (test scratch only). */
static inline void du_rmtree(const char *dir)
{
    nftw(dir, du_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh empty directory under /tmp; path written into buf. */
static inline int du_tmpdir(char *buf, size_t n, const char *tag)
{
    snprintf(buf, n, "/tmp/evchain-%s-XXXXXX", tag);
    return mkdtemp(buf) ? 0 : -1;
}

/* Open the chain directory dir as a chain with disk options o. */
static inline int du_open_with(ec_chain **c, const char *dir, const ec_disk_options *o)
{
    ec_backend *be;
    int rc = ec_backend_disk(&be, dir, o);
    if (rc)
        return rc;
    ec_chain_options co = EC_CHAIN_OPTIONS_INIT;
    co.alg = 0; /* whatever the directory records */
    return ec_chain_open(c, be, &co);
}

/* Open (or create) the chain directory dir as a chain. */
static inline int du_open(ec_chain **c, const char *dir, int create, ec_durability dur,
                          uint64_t seg_bytes, int read_only)
{
    ec_disk_options o = EC_DISK_OPTIONS_INIT;
    o.create = create;
    o.durability = dur;
    o.segment_bytes = seg_bytes;
    o.read_only = read_only;
    return du_open_with(c, dir, &o);
}

/* Append event i: a payload that names i, so a reader can tell events apart. */
static inline int du_append(ec_chain *c, uint64_t i, size_t data_len, uint8_t *hash_out)
{
    char data[4096];
    if (data_len > sizeof data)
        data_len = sizeof data;
    for (size_t k = 0; k < data_len; k++)
        data[k] = (char)('a' + (i + k) % 26);
    int n = snprintf(data, data_len, "%llu;", (unsigned long long)i);
    (void)n;
    ec_event_input in = {.type = "test/disk",
                         .data = data,
                         .data_len = data_len,
                         .description = i % 2 ? "odd" : NULL,
                         .timestamp = 1000000 + i};
    return ec_chain_append(c, &in, NULL, hash_out);
}

static inline long du_file_size(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static inline int du_truncate(const char *p, long len)
{
    return truncate(p, len);
}

/* XOR one byte of a file with x. */
static inline int du_flip(const char *p, long off, unsigned char x)
{
    int fd = open(p, O_RDWR);
    if (fd < 0)
        return -1;
    unsigned char b;
    int rc = -1;
    if (pread(fd, &b, 1, off) == 1) {
        b ^= x;
        rc = pwrite(fd, &b, 1, off) == 1 ? 0 : -1;
    }
    close(fd);
    return rc;
}

/* Copy a flat directory (a chain directory has no subdirectories). */
static inline int du_copy_dir(const char *from, const char *to)
{
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -r '%s' '%s'", to, from, to);
    return system(cmd) == 0 ? 0 : -1;
}

static inline int du_contains(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

#endif
