/*
 * A small printf subset for the log: %d %i %u %x %c %s %%, an optional 'l', '0' flag and width.
 * Our own rather than newlib's vsnprintf: no heap (newlib's may allocate), a stack use we know, and
 * the same behaviour on every toolchain.
 */
#ifndef TCH_FORMAT_H
#define TCH_FORMAT_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TCH_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define TCH_PRINTF(f, a)
#endif

/* Format into buf (always NUL-terminated when cap > 0, truncated to fit); returns the length. */
unsigned tch_vformat(char *buf, unsigned cap, const char *fmt, va_list ap);
unsigned tch_format(char *buf, unsigned cap, const char *fmt, ...) TCH_PRINTF(3, 4);

#ifdef __cplusplus
}
#endif

#endif /* TCH_FORMAT_H */
