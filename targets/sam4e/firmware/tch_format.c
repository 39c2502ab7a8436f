/* The log's printf subset: see tch_format.h. */
#include "tch_format.h"

#include <stddef.h>

struct tch_out {
    char *buf;
    unsigned cap; /* room for characters, the NUL excluded */
    unsigned len;
};

static void tch_put(struct tch_out *o, char c)
{
    if (o->len < o->cap) {
        o->buf[o->len++] = c;
    }
}

/* value in base 10 or 16, with its sign, zero- or space-padded to width. */
static void tch_number(struct tch_out *o, unsigned long value, int negative, unsigned base,
                       unsigned width, char pad)
{
    char digits[24];
    unsigned n = 0;

    do {
        digits[n++] = "0123456789abcdef"[value % base];
        value /= base;
    } while (value != 0u);
    if (negative && pad == '0') {
        tch_put(o, '-');
    }
    while (width > n + (negative ? 1u : 0u)) {
        tch_put(o, pad);
        width--;
    }
    if (negative && pad != '0') {
        tch_put(o, '-');
    }
    while (n > 0u) {
        tch_put(o, digits[--n]);
    }
}

unsigned tch_vformat(char *buf, unsigned cap, const char *fmt, va_list ap)
{
    struct tch_out o;

    if (cap == 0u) {
        return 0;
    }
    o.buf = buf;
    o.cap = cap - 1u;
    o.len = 0;
    for (; *fmt != '\0'; fmt++) {
        unsigned width = 0;
        int is_long = 0;
        char pad = ' ';

        if (*fmt != '%') {
            tch_put(&o, *fmt);
            continue;
        }
        fmt++;
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9') {
            width = width * 10u + (unsigned)(*fmt - '0');
            fmt++;
        }
        if (*fmt == 'l') {
            is_long = 1;
            fmt++;
        }
        switch (*fmt) {
        case 'd':
        case 'i': {
            long v = is_long ? va_arg(ap, long) : (long)va_arg(ap, int);
            /* Negate in unsigned arithmetic: -LONG_MIN overflows a long. */
            tch_number(&o, v < 0 ? 0ul - (unsigned long)v : (unsigned long)v, v < 0, 10u, width, pad);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long v = is_long ? va_arg(ap, unsigned long) : (unsigned long)va_arg(ap, unsigned);
            tch_number(&o, v, 0, *fmt == 'u' ? 10u : 16u, width, pad);
            break;
        }
        case 'c':
            tch_put(&o, (char)va_arg(ap, int));
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            for (s = s != NULL ? s : "(null)"; *s != '\0'; s++) {
                tch_put(&o, *s);
            }
            break;
        }
        case '%':
            tch_put(&o, '%');
            break;
        case '\0':
            fmt--; /* a lone '%' at the end: stop at the terminator */
            break;
        default: /* unsupported: show it rather than guess its argument */
            tch_put(&o, '%');
            tch_put(&o, *fmt);
            break;
        }
    }
    buf[o.len] = '\0';
    return o.len;
}

unsigned tch_format(char *buf, unsigned cap, const char *fmt, ...)
{
    va_list ap;
    unsigned n;

    va_start(ap, fmt);
    n = tch_vformat(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}
