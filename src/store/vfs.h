/* store/vfs.h: the file I/O seam of the disk backend. Every system call that changes or reads
 * a chain directory goes through the active ec_vfs, so tests can inject faults (ENOSPC, EIO,
 * short writes) exactly where a real disk would produce them, as SQLite's VFS allows. */
#ifndef EVCHAIN_STORE_VFS_H
#define EVCHAIN_STORE_VFS_H

#include <sys/stat.h>
#include <sys/types.h>

/* Each call behaves like the POSIX call of the same name: -1 (or a short count) with errno
 * set on failure. A fault injector changes errno and the result, never the caller's data. */
typedef struct ec_vfs {
    int (*open)(const char *path, int flags, mode_t mode);
    int (*close)(int fd);
    ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
    ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
    int (*fdatasync)(int fd);
    int (*fsync)(int fd);
    int (*ftruncate)(int fd, off_t len);
    int (*fstat)(int fd, struct stat *st);
    int (*rename)(const char *from, const char *to);
    int (*unlink)(const char *path);
    int (*mkdir)(const char *path, mode_t mode);
    int (*flock)(int fd, int op);
} ec_vfs;

/* The plain POSIX implementation. */
extern const ec_vfs ec_vfs_posix;
/* The active seam (process-wide; tests swap it before opening a chain). */
const ec_vfs *ec_vfs_get(void);
/* Install v (NULL: back to ec_vfs_posix). Not for use while a disk backend is open. */
void ec_vfs_set(const ec_vfs *v);

#endif
