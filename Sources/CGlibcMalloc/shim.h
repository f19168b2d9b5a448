#ifndef TIERCACHE_CGLIBCMALLOC_SHIM_H
#define TIERCACHE_CGLIBCMALLOC_SHIM_H
// glibc's allocator knobs (malloc.h is not in Swift's Glibc module); elsewhere they do nothing and say so.
#if defined(__linux__)
#include <features.h>
#endif
#if defined(__GLIBC__)
#include <malloc.h>
// Caps the number of malloc arenas (M_ARENA_MAX): 1 when set, 0 when not.
static inline int tiercache_malloc_limit_arenas(int count) { return mallopt(M_ARENA_MAX, count); }
#else
static inline int tiercache_malloc_limit_arenas(int count) { (void)count; return 0; }
#endif
#endif
