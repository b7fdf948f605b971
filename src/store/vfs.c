/* store/vfs.c: the POSIX implementation of the disk backend's file I/O seam (vfs.h) and the
 * switch that lets tests put a fault injector in its place. */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

#include "store/vfs.h"

static int p_open(const char *path, int flags, mode_t mode)
{
    return open(path, flags | O_CLOEXEC, mode);
}
static int p_mkdir(const char *path, mode_t mode)
{
    return mkdir(path, mode);
}

const ec_vfs ec_vfs_posix = {
    p_open,    close, pread,  pwrite, fdatasync, fsync,
    ftruncate, fstat, rename, unlink, p_mkdir,   flock,
};

static _Atomic(const ec_vfs *) active = &ec_vfs_posix;

const ec_vfs *ec_vfs_get(void)
{
    return atomic_load(&active);
}

void ec_vfs_set(const ec_vfs *v)
{
    atomic_store(&active, v ? v : &ec_vfs_posix);
}
