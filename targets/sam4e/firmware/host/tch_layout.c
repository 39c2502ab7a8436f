/*
 * Host-only helpers for the tests: the layout as the C compiler sees it, compared with the Python
 * mirror (targets/sam4e/mailbox.py, LAYOUT_FIELDS lists the same values in the same order), and a
 * host-speed poller for the ordering test.
 */
#include <stddef.h>
#include <stdint.h>

#include "../tch_mailbox.h"

#define MB(f) (uint32_t)offsetof(struct tch_mailbox, f)
#define SL(f) (uint32_t)offsetof(struct tch_slot, f)

unsigned tch_layout(uint32_t *out, unsigned n);

/* Writes min(n, count) values and returns count, so a length mismatch is visible to the caller. */
unsigned tch_layout(uint32_t *out, unsigned n)
{
    const uint32_t values[] = {
        (uint32_t)sizeof(struct tch_mailbox), (uint32_t)sizeof(struct tch_slot),
        MB(magic), MB(layout_version), MB(slot_count), MB(slot_size), MB(data_size),
        MB(heartbeat), MB(boot_id), MB(reserved), MB(slot),
        SL(req_seq), SL(op), SL(arg), SL(data_len), SL(resp_seq), SL(status), SL(result),
        SL(result_len), SL(t_start), SL(t_end), SL(data),
        TCH_MAGIC, TCH_LAYOUT_VERSION, TCH_SLOTS, TCH_DATA_SIZE, TCH_ARGS, TCH_OP_COUNT,
    };
    unsigned count = (unsigned)(sizeof values / sizeof values[0]), i;

    for (i = 0; i < n && i < count; i++) {
        out[i] = values[i];
    }
    return count;
}

int tch_host_await(struct tch_slot *slot, uint32_t seq, uint32_t spins, int32_t out[3]);

/* A host as fast as a host can be: spin (in C, without Python's GIL) until resp_seq == seq, then
 * read status, result and result_len at once. The ordering test races it against the firmware
 * code's stores; 1 if seq was seen within `spins` reads. */
int tch_host_await(struct tch_slot *slot, uint32_t seq, uint32_t spins, int32_t out[3])
{
    volatile struct tch_slot *vs = slot;

    while (vs->resp_seq != seq) {
        if (spins-- == 0u) {
            return 0;
        }
    }
    TCH_DMB(); /* acquire: what the adapter does between reading resp_seq and the results */
    out[0] = vs->status;
    out[1] = vs->result;
    out[2] = (int32_t)vs->result_len;
    return 1;
}
