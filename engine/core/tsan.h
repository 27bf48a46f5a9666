/* tsan.h: telling ThreadSanitizer about hand-offs it cannot see.
 *
 * GLib as distributions ship it is not built with -fsanitize=thread, and
 * its GMutex, GCond and GAsyncQueue are raw futexes on Linux, not
 * pthreads: when one thread pushes a pointer into a GAsyncQueue (or a
 * GThreadPool, or a GMainContext through g_main_context_invoke()) and
 * another pops it, TSan sees no happens-before edge between them and
 * reports every later access to the object as a race.
 *
 * CP_TSAN_RELEASE (obj) just before the hand-off and CP_TSAN_ACQUIRE (obj)
 * just after it, on the same address, state the edge the futex gives.
 * Only genuine hand-offs may be annotated: a release/acquire pair hides
 * any race between the two sides.  Without -fsanitize=thread both macros
 * compile to nothing.
 */
#pragma once

#if defined(__has_feature)
# if __has_feature(thread_sanitizer)
#  define CP_TSAN_ENABLED 1
# endif
#endif
#if !defined(CP_TSAN_ENABLED) && defined(__SANITIZE_THREAD__)
# define CP_TSAN_ENABLED 1
#endif

#ifdef CP_TSAN_ENABLED
# include <sanitizer/tsan_interface.h>
# define CP_TSAN_RELEASE(addr) __tsan_release ((void *) (addr))
# define CP_TSAN_ACQUIRE(addr) __tsan_acquire ((void *) (addr))
#else
# define CP_TSAN_RELEASE(addr) ((void) (addr))
# define CP_TSAN_ACQUIRE(addr) ((void) (addr))
#endif
