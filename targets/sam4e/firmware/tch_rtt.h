/*
 * The log channel: SEGGER RTT up-channel 0, never blocking (SEGGER_RTT_MODE_NO_BLOCK_SKIP: a
 * message that does not fit is dropped whole), so a missing host never stalls the firmware.
 *
 * TCH_USE_SEGGER_RTT=1: use the project's own SEGGER RTT (SEGGER_RTT.c/.h). Otherwise tch_rtt.c
 * defines a minimal control block `_SEGGER_RTT` with SEGGER's layout (one up buffer of
 * TCH_RTT_UP_SIZE bytes, one down buffer of TCH_RTT_DOWN_SIZE bytes) that pyOCD's RTT reader
 * (pyocd/debug/rtt.py) and J-Link tools find by its "SEGGER RTT" id.
 */
#ifndef TCH_RTT_H
#define TCH_RTT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef TCH_USE_SEGGER_RTT
#define TCH_USE_SEGGER_RTT 0
#endif
#ifndef TCH_RTT_UP_SIZE
#define TCH_RTT_UP_SIZE 1024u
#endif
#ifndef TCH_RTT_DOWN_SIZE
#define TCH_RTT_DOWN_SIZE 16u
#endif

#if !TCH_USE_SEGGER_RTT
/* SEGGER's SEGGER_RTT_BUFFER_UP/DOWN. Addresses are uint32_t, which is what SEGGER's pointers are
 * on Cortex-M: the layout is the same, and the host tests see the target's 32-bit layout. */
struct tch_rtt_buffer {
    uint32_t name;   /* sName: const char * */
    uint32_t buffer; /* pBuffer */
    uint32_t size;   /* SizeOfBuffer */
    uint32_t wr_off; /* WrOff: written by the producer (firmware for up, host for down) */
    uint32_t rd_off; /* RdOff: written by the consumer */
    uint32_t flags;  /* Flags: SEGGER_RTT_MODE_* */
};

/* SEGGER_RTT_CB with SEGGER_RTT_MAX_NUM_UP_BUFFERS = SEGGER_RTT_MAX_NUM_DOWN_BUFFERS = 1. */
struct tch_rtt_cb {
    char id[16];       /* acID: "SEGGER RTT", written last */
    int32_t max_up;    /* MaxNumUpBuffers */
    int32_t max_down;  /* MaxNumDownBuffers */
    struct tch_rtt_buffer up[1];
    struct tch_rtt_buffer down[1];
};

extern struct tch_rtt_cb _SEGGER_RTT;
#endif

/* Set up the control block (id last). Idempotent; tch_rtt_write() calls it if needed. */
void tch_rtt_init(void);

/* Append to up-channel 0: len on success, 0 when it does not fit (dropped whole).
 * The built-in block has no lock: callers on several tasks serialise (tch_log does). */
unsigned tch_rtt_write(const void *data, unsigned len);

#ifdef __cplusplus
}
#endif

#endif /* TCH_RTT_H */
