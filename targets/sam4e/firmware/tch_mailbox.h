/*
 * The harness mailbox (PROTOCOL.md, layout version 2): the one C definition of the layout, and the
 * interface between the protocol code (tch_mailbox.c, no RTOS) and a stack binding
 * (tch_agent_freertos.c on the board; Python through ctypes on the host).
 *
 * C99. The structs are plain; every access to memory the host may write while the firmware reads
 * goes through a volatile lvalue in tch_mailbox.c, so the object itself is never defined volatile.
 */
#ifndef TCH_MAILBOX_H
#define TCH_MAILBOX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TCH_MAGIC          0x31484354u /* "TCH1" as bytes in memory (little-endian) */
#define TCH_LAYOUT_VERSION 2u /* 2: op 15 SELECT, statuses -5 and -6 */
#define TCH_SLOTS          4u
#define TCH_DATA_SIZE      1024u
#define TCH_ARGS           6u
#define TCH_FOREVER        (-1) /* a timeout argument meaning portMAX_DELAY */

/* Operations (PROTOCOL.md "Operations"). */
#define TCH_OP_NOP         0u
#define TCH_OP_SOCKET      1u
#define TCH_OP_BIND        2u
#define TCH_OP_LISTEN      3u
#define TCH_OP_ACCEPT      4u
#define TCH_OP_CONNECT     5u
#define TCH_OP_SEND        6u
#define TCH_OP_RECV        7u
#define TCH_OP_SHUTDOWN    8u
#define TCH_OP_CLOSESOCKET 9u
#define TCH_OP_SETSOCKOPT  10u
#define TCH_OP_ISCONNECTED 11u
#define TCH_OP_CONNSTATUS  12u
#define TCH_OP_SEM_CREATE  13u
#define TCH_OP_SEM_TAKE    14u
#define TCH_OP_SELECT      15u
#define TCH_OP_COUNT       16u /* ops are 0 .. TCH_OP_COUNT-1 */

/* SELECT's arg[1]: eSELECT_READ 1 | eSELECT_WRITE 2 | eSELECT_EXCEPT 4 | eSELECT_INTR 8, nothing
 * beyond eSELECT_ALL (FreeRTOS_Sockets.h V4.4.1; 0x10 eSELECT_CALL_IP is FreeRTOS's own). */
#define TCH_SELECT_EVENTS  0x0Fu

/* Status: did the agent run the call (PROTOCOL.md "Status"). */
#define TCH_ST_OK          0
#define TCH_ST_BAD_OP      (-1)
#define TCH_ST_BAD_ARG     (-2)
#define TCH_ST_BAD_SOCKET  (-3)
#define TCH_ST_NO_HANDLE   (-4)
#define TCH_ST_UNSUPPORTED (-5) /* the firmware was built without what the op needs */
#define TCH_ST_NO_MEMORY   (-6) /* FreeRTOS could not allocate what the call needs */

struct tch_slot {
    uint32_t req_seq;    /* host writes it last, after op/arg/data_len/data */
    uint32_t op;         /* TCH_OP_* */
    int32_t  arg[TCH_ARGS];
    uint32_t data_len;   /* request bytes in data[] */
    uint32_t resp_seq;   /* firmware writes it last, after a data memory barrier */
    int32_t  status;     /* TCH_ST_* */
    int32_t  result;     /* the stack call's own return value */
    uint32_t result_len; /* response bytes in data[] */
    uint32_t t_start;    /* tick count when the call started ... */
    uint32_t t_end;      /* ... and when it returned */
    uint8_t  data[TCH_DATA_SIZE];
};

struct tch_mailbox {
    uint32_t magic;          /* TCH_MAGIC, written last by tch_mailbox_init() */
    uint16_t layout_version; /* TCH_LAYOUT_VERSION */
    uint16_t slot_count;     /* TCH_SLOTS */
    uint32_t slot_size;      /* sizeof(struct tch_slot): lets the host check the build */
    uint32_t data_size;      /* TCH_DATA_SIZE */
    uint32_t heartbeat;      /* +1 on every agent poll pass */
    uint32_t boot_id;        /* differs from one boot to the next */
    uint32_t reserved[2];
    struct tch_slot slot[TCH_SLOTS];
};

/*
 * What the protocol code needs from a stack binding.
 *
 * call: run one validated request. Already checked: op < TCH_OP_COUNT, data_len <= TCH_DATA_SIZE;
 *   for RECV 0 <= arg[1] <= TCH_DATA_SIZE; for SELECT 0 <= arg[1] <= TCH_SELECT_EVENTS and
 *   arg[2] >= TCH_FOREVER. `data` is a private copy of the request bytes (the host can not change
 *   them under the call). Response bytes go to `out` (capacity out_cap == TCH_DATA_SIZE) with
 *   their count in *out_len. *status arrives as TCH_ST_OK and *out_len as 0; set *status to a
 *   TCH_ST_* error to refuse the request (the return value is then still published as `result`,
 *   so return 0). The return value is the stack call's result. It may block: each slot is served
 *   by its own worker.
 * ticks: the tick count for t_start/t_end (NULL: 0).
 * done: optional (NULL: none); called after resp_seq is published, e.g. to log the call.
 * ctx: passed back to each function.
 */
struct tch_ops {
    void *ctx;
    int32_t (*call)(void *ctx, uint32_t op, const int32_t arg[TCH_ARGS], const uint8_t *data,
                    uint32_t data_len, uint8_t *out, uint32_t out_cap, uint32_t *out_len,
                    int32_t *status);
    uint32_t (*ticks)(void *ctx);
    void (*done)(void *ctx, unsigned slot, uint32_t op, int32_t status, int32_t result);
};

/* A full data memory barrier, also a compiler barrier: results are visible before resp_seq. */
#if defined(__arm__) || defined(__thumb__)
#define TCH_DMB() __asm volatile("dmb" ::: "memory")
#else
#define TCH_DMB() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif

/* Clear every slot and write the header, magic last (it is cleared first), so a host polling the
 * magic never sees a half-written header. boot_id must differ between boots. */
void tch_mailbox_init(struct tch_mailbox *mb, uint32_t boot_id);

/* Serve `slot` once: 1 if a request was answered, 0 if the slot was idle (or slot out of range). */
int tch_slot_service(struct tch_mailbox *mb, unsigned slot, const struct tch_ops *ops);

/* heartbeat += 1. Not atomic: callers on several tasks serialise it (a lost increment is harmless,
 * but a preempted read-modify-write would make the counter step backwards). */
void tch_heartbeat(struct tch_mailbox *mb);

#ifdef __cplusplus
}
#endif

#endif /* TCH_MAILBOX_H */
