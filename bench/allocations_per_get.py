#!/usr/bin/env python3
"""Heap allocations per L1-hit GET (issue 18's "nothing allocated on the hit path"), counted, not estimated.

A small LD_PRELOAD library (compiled here with gcc) counts every malloc, calloc, realloc, posix_memalign,
aligned_alloc and memalign the process makes, and writes the count to a file on SIGUSR2. TierCache (release
build, Swift runtime linked statically, glibc dynamically, so the preload sees every allocation) reads 10,000
keys into L1; then redis-benchmark sends GETs of those keys (all L1 hits) and the count's growth is divided by the
GETs. What the server does on a timer meanwhile (the sweeper, stats snapshots) is in the count too, so a result
of a few thousandths is background, not the hit path; one allocation per GET would read 1.0.

Usage: bench/allocations_per_get.py [--binary PATH] [--baseline PATH] [--requests 1000000]
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

COUNTER = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>

static atomic_long count;
static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);

/* dlsym itself may call calloc before real_calloc is known: serve that from a static buffer. */
static char early[4096];
static size_t early_used;

static void report(int sig) {
    (void)sig;
    const char *path = getenv("ALLOCATION_COUNT_FILE");
    if (!path) return;
    char text[32];
    int length = snprintf(text, sizeof text, "%ld\n", atomic_load(&count));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) { (void)!write(fd, text, (size_t)length); close(fd); }
}

__attribute__((constructor)) static void start(void) {
    real_malloc = dlsym(RTLD_NEXT, "malloc");
    real_calloc = dlsym(RTLD_NEXT, "calloc");
    real_realloc = dlsym(RTLD_NEXT, "realloc");
    real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    real_memalign = dlsym(RTLD_NEXT, "memalign");
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = report;
    action.sa_flags = SA_RESTART;
    sigaction(SIGUSR2, &action, NULL);
}

void *malloc(size_t size) {
    atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
    if (!real_malloc) real_malloc = dlsym(RTLD_NEXT, "malloc");
    return real_malloc(size);
}

void *calloc(size_t n, size_t size) {
    atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
    if (!real_calloc) {
        size_t bytes = (n * size + 15) & ~(size_t)15;
        if (early_used + bytes > sizeof early) return NULL;
        void *p = early + early_used;
        early_used += bytes;
        return p;
    }
    return real_calloc(n, size);
}

void *realloc(void *p, size_t size) {
    atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
    return real_realloc(p, size);
}

int posix_memalign(void **p, size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
    return real_posix_memalign(p, alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
    return real_aligned_alloc(alignment, size);
}

void *memalign(size_t alignment, size_t size) {
    atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
    return real_memalign(alignment, size);
}

void free(void *p) {
    static void (*real_free)(void *);
    if ((char *)p >= early && (char *)p < early + sizeof early) return;
    if (!real_free) real_free = dlsym(RTLD_NEXT, "free");
    real_free(p);
}
"""


def build_counter(directory):
    source = os.path.join(directory, "count.c")
    library = os.path.join(directory, "libcount.so")
    with open(source, "w") as f:
        f.write(COUNTER)
    subprocess.run(["gcc", "-shared", "-fPIC", "-O2", "-o", library, source, "-ldl"], check=True)
    return library


def read_count(pid, path):
    if os.path.exists(path):
        os.remove(path)
    os.kill(pid, signal.SIGUSR2)
    deadline = time.time() + 5
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                text = f.read().strip()
            if text:
                return int(text)
        time.sleep(0.02)
    raise SystemExit("the allocation counter did not answer SIGUSR2")


def measure(binary, label, library, eviction, requests, keys=10_000):
    run = benchlib.Run("tiercache-allocations-")
    try:
        database = run.path("kv.db")
        benchlib.make_database(database, keys)
        policies = benchlib.write_policy(run.path("policies"), l1=True, ttl="1d")
        count_file = run.path("count")
        os.environ["LD_PRELOAD"] = library
        os.environ["ALLOCATION_COUNT_FILE"] = count_file
        try:
            flags = ["--l1-eviction", eviction] if eviction else []
            port, proc, _ = benchlib.start_tiercache(run, binary, database, policies, extra_args=flags)
        finally:
            del os.environ["LD_PRELOAD"]
            del os.environ["ALLOCATION_COUNT_FILE"]
        benchlib.warm_to_hits(binary, port, keys)
        row = [label]
        for pipeline in (1, 16):
            before = read_count(proc.pid, count_file)
            benchlib.benchmark(port, "get", requests, 50, pipeline, keys, label)
            after = read_count(proc.pid, count_file)
            row.append((after - before) / requests)
        print(f"{row[0]:<30}{row[1]:>16.4f}{row[2]:>16.4f}")
    finally:
        run.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=benchlib.DEFAULT_BINARY)
    parser.add_argument("--baseline", help="an older tiercache binary, measured the same way")
    parser.add_argument("--requests", type=int, default=1_000_000)
    args = parser.parse_args()
    benchlib.require_binary(args.binary)
    benchlib.require_tools(("redis-benchmark", "redis-tools"), ("gcc", "gcc"))
    with tempfile.TemporaryDirectory() as directory:
        library = build_counter(directory)
        print(f"heap allocations per L1-hit GET ({args.requests:,} GETs of 10,000 keys, 50 clients)")
        print(f"{'build, policy':<30}{'unpipelined':>16}{'-P 16':>16}")
        for eviction in ("w-tinylfu", "lru"):
            measure(args.binary, f"this build, {eviction}", library, eviction, args.requests)
        if args.baseline:
            measure(args.baseline, "baseline build", library, None, args.requests)


if __name__ == "__main__":
    main()
