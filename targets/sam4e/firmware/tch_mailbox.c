/*
 * The mailbox protocol (PROTOCOL.md), independent of any RTOS or stack: the board runs it from its
 * worker tasks, the host tests run the same object code through ctypes over a Python buffer.
 */
#include "tch_mailbox.h"

#include <string.h>

/* The request as it was when the worker picked it up. */
struct tch_request {
    uint32_t op;
    int32_t arg[TCH_ARGS];
    uint32_t data_len;
    uint32_t data[TCH_DATA_SIZE / 4]; /* words: the binding may read option structs from it */
};

void tch_mailbox_init(struct tch_mailbox *mb, uint32_t boot_id)
{
    volatile struct tch_mailbox *v = mb;

    /* A host still attached from before must stop trusting the header before anything changes. */
    v->magic = 0;
    TCH_DMB();
    memset(mb, 0, sizeof *mb);
    v->layout_version = (uint16_t)TCH_LAYOUT_VERSION;
    v->slot_count = (uint16_t)TCH_SLOTS;
    v->slot_size = (uint32_t)sizeof(struct tch_slot);
    v->data_size = TCH_DATA_SIZE;
    v->boot_id = boot_id;
    TCH_DMB();
    v->magic = TCH_MAGIC;
}

void tch_heartbeat(struct tch_mailbox *mb)
{
    volatile struct tch_mailbox *v = mb;

    v->heartbeat = v->heartbeat + 1u;
}

/* The checks that need no stack knowledge: what the binding may rely on (tch_ops.call). */
static int32_t tch_check(const struct tch_request *req)
{
    if (req->op >= TCH_OP_COUNT) {
        return TCH_ST_BAD_OP;
    }
    if (req->data_len > TCH_DATA_SIZE) {
        return TCH_ST_BAD_ARG;
    }
    if (req->op == TCH_OP_RECV && (req->arg[1] < 0 || req->arg[1] > (int32_t)TCH_DATA_SIZE)) {
        return TCH_ST_BAD_ARG;
    }
    /* SELECT: events within eSELECT_ALL (FreeRTOS would drop other bits silently), a timeout in
     * ms or TCH_FOREVER. */
    if (req->op == TCH_OP_SELECT
        && (req->arg[1] < 0 || req->arg[1] > (int32_t)TCH_SELECT_EVENTS || req->arg[2] < TCH_FOREVER)) {
        return TCH_ST_BAD_ARG;
    }
    return TCH_ST_OK;
}

static uint32_t tch_ticks(const struct tch_ops *ops)
{
    return ops->ticks != NULL ? ops->ticks(ops->ctx) : 0u;
}

int tch_slot_service(struct tch_mailbox *mb, unsigned slot, const struct tch_ops *ops)
{
    volatile struct tch_slot *vs;
    struct tch_request req;
    uint32_t seq, out_len = 0, t_start, t_end, i;
    int32_t status, result = 0;

    if (slot >= TCH_SLOTS) {
        return 0;
    }
    vs = &mb->slot[slot];
    seq = vs->req_seq;
    if (seq == vs->resp_seq) {
        return 0;
    }
    /* The host wrote req_seq last: read the request only after it (an acquire). */
    TCH_DMB();
    req.op = vs->op;
    for (i = 0; i < TCH_ARGS; i++) {
        req.arg[i] = vs->arg[i];
    }
    req.data_len = vs->data_len;
    status = tch_check(&req);
    if (status == TCH_ST_OK) {
        /* Copied byte by byte through volatile: the call must never see the host's next bytes. */
        uint8_t *dst = (uint8_t *)req.data;
        for (i = 0; i < req.data_len; i++) {
            dst[i] = vs->data[i];
        }
    }
    t_start = tch_ticks(ops);
    if (status == TCH_ST_OK) {
        /* Output goes straight into the slot's data: the host does not touch a busy slot, and the
         * barrier below orders it before resp_seq. Saves a second 1 KiB buffer per worker. */
        result = ops->call(ops->ctx, req.op, req.arg, (const uint8_t *)req.data, req.data_len,
                           mb->slot[slot].data, TCH_DATA_SIZE, &out_len, &status);
        if (status != TCH_ST_OK || out_len > TCH_DATA_SIZE) {
            out_len = status != TCH_ST_OK ? 0u : TCH_DATA_SIZE; /* a binding bug: never overrun */
        }
    }
    t_end = tch_ticks(ops);
    vs->status = status;
    vs->result = result;
    vs->result_len = out_len;
    vs->t_start = t_start;
    vs->t_end = t_end;
    TCH_DMB();
    vs->resp_seq = seq;
    if (ops->done != NULL) {
        ops->done(ops->ctx, slot, req.op, status, result);
    }
    return 1;
}
