/* store/open.c: open any chain by path (a chain directory through the disk backend, or a
 * JSON / JSONL / Theater file loaded into memory), format names and format detection. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "core/internal.h"
#include "store/disk_internal.h"
#include "store/interchange.h"

static const char *const format_names[] = {"auto", "json", "jsonl", "theater", "dir"};
#define N_FORMATS (sizeof format_names / sizeof *format_names)

const char *ec_format_name(ec_file_format f)
{
    return (unsigned)f < N_FORMATS ? format_names[f] : NULL;
}

int ec_format_from_name(ec_file_format *out, const char *name)
{
    for (size_t k = 0; name && k < N_FORMATS; k++)
        if (strcmp(name, format_names[k]) == 0) {
            *out = (ec_file_format)k;
            return 0;
        }
    return ec_error_set(EC_EUNSUPPORTED,
                        "unknown format \"%.40s\" (auto, json, jsonl, theater or dir)",
                        name ? name : "(null)");
}

static int open_file(FILE **out, const char *path)
{
    *out = fopen(path, "rb");
    if (!*out)
        return ec_error_set_errno(errno == ENOENT ? EC_ENOTFOUND : EC_EIO, errno, "%s", path);
    return 0;
}

int ec_format_detect(ec_file_format *out, const char *path)
{
    struct stat st;
    if (!path)
        return ec_error_set(EC_EINVAL, "format detection: no path");
    if (stat(path, &st) != 0)
        return ec_error_set_errno(errno == ENOENT ? EC_ENOTFOUND : EC_EIO, errno, "%s", path);
    if (S_ISDIR(st.st_mode)) {
        *out = EC_FORMAT_DIR;
        return 0;
    }
    FILE *f;
    int rc = open_file(&f, path);
    if (rc)
        return rc;
    ec_src s;
    ec_src_init(&s, f, path);
    rc = ec_src_detect(&s, out);
    ec_src_free(&s);
    fclose(f);
    return rc;
}

int ec_chain_open_path(ec_chain **out, const char *path, const ec_open_options *opts)
{
    ec_open_options o = EC_OPEN_OPTIONS_INIT;
    /* Checked first: the fields of a struct of another version (verify_out too) mean
     * nothing to this build. */
    if (opts && opts->version != EC_OPEN_OPTIONS_VERSION)
        return ec_error_set(EC_EUNSUPPORTED, "ec_chain_open_path: options version %u (expected %u)",
                            opts->version, EC_OPEN_OPTIONS_VERSION);
    if (opts)
        o = *opts;
    if (o.verify_out) /* filled on every return: zero, then any finding */
        memset(o.verify_out, 0, sizeof *o.verify_out);
    if (!out || !path)
        return ec_error_set(EC_EINVAL, "open: no output or no path");
    *out = NULL;
    if (strcmp(path, "-") == 0) { /* standard input: `evchain export ... | evchain verify -` */
        if (o.format == EC_FORMAT_DIR)
            return ec_error_set(EC_EINVAL, "standard input cannot be a chain directory");
        return ec_interchange_open(out, stdin, "(stdin)", o.format, o.inspect, o.verify_out);
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return ec_error_set_errno(errno == ENOENT ? EC_ENOTFOUND : EC_EIO, errno, "%s", path);
    if (o.format == EC_FORMAT_AUTO && S_ISDIR(st.st_mode))
        o.format = EC_FORMAT_DIR;
    if (o.format == EC_FORMAT_DIR) {
        /* A directory is verified on demand (ec_chain_verify), not on open: it may be far
         * larger than memory, and recovery of a torn tail is the disk backend's job. */
        ec_disk_options d = EC_DISK_OPTIONS_INIT;
        d.read_only = !o.writable;
        ec_backend *be;
        ec_verify_result damage;
        memset(&damage, 0, sizeof damage);
        int rc = ec_backend_disk_at_(&be, path, &d, &damage);
        if (rc == EC_EFORMAT && damage.status != EC_VERIFY_OK) {
            /* A damaged record is a broken chain, as a bad hash is (EC_EVERIFY, the seq in
             * verify_out); what is not a chain at all (no header, bad magic) stays EFORMAT. */
            if (o.verify_out)
                *o.verify_out = damage;
            return ec_error_set(EC_EVERIFY, "%s: event %llu: %s", path,
                                (unsigned long long)damage.seq, damage.reason);
        }
        if (rc)
            return rc;
        ec_chain_options co = EC_CHAIN_OPTIONS_INIT;
        co.alg = 0; /* the directory records its algorithm (sha1 chains too) */
        return ec_chain_open(out, be, &co);
    }
    if (S_ISDIR(st.st_mode))
        return ec_error_set(EC_EINVAL, "%s: a directory, but format %s was asked for", path,
                            ec_format_name(o.format) ? ec_format_name(o.format) : "(unknown)");
    FILE *f;
    int rc = open_file(&f, path);
    if (rc)
        return rc;
    rc = ec_interchange_open(out, f, path, o.format, o.inspect, o.verify_out);
    fclose(f);
    return rc;
}
