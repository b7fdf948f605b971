/* bench/bench.h: timing and reporting helpers shared by the benchmark programs. */
#ifndef EVCHAIN_BENCH_H
#define EVCHAIN_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Peak resident set of this process so far, in MiB. */
static inline double bench_peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* Env override for event counts, so `make bench` can be shortened: BENCH_SCALE=0.1. */
static inline unsigned long bench_scaled(unsigned long n)
{
    const char *s = getenv("BENCH_SCALE");
    double f = s ? atof(s) : 1.0;
    if (f <= 0)
        f = 1.0;
    unsigned long r = (unsigned long)((double)n * f);
    return r ? r : 1;
}

#endif
