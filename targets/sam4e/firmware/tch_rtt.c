/* The log channel: see tch_rtt.h. */
#include "tch_rtt.h"

#include <stddef.h>
#include <string.h>

#include "tch_mailbox.h" /* TCH_DMB */

#if TCH_USE_SEGGER_RTT

#include "SEGGER_RTT.h"

void tch_rtt_init(void)
{
    SEGGER_RTT_Init();
    (void)SEGGER_RTT_SetFlagsUpBuffer(0, SEGGER_RTT_MODE_NO_BLOCK_SKIP);
}

unsigned tch_rtt_write(const void *data, unsigned len)
{
    return SEGGER_RTT_Write(0, data, len);
}

#else

#define TCH_RTT_MODE_NO_BLOCK_SKIP 0u /* SEGGER_RTT_MODE_NO_BLOCK_SKIP */

struct tch_rtt_cb _SEGGER_RTT;
static char tch_rtt_up[TCH_RTT_UP_SIZE];
static char tch_rtt_down[TCH_RTT_DOWN_SIZE];
static const char tch_rtt_name[] = "Terminal";

static void tch_rtt_describe(volatile struct tch_rtt_buffer *b, char *buffer, uint32_t size)
{
    b->name = (uint32_t)(uintptr_t)tch_rtt_name;
    b->buffer = (uint32_t)(uintptr_t)buffer;
    b->size = size;
    b->wr_off = 0;
    b->rd_off = 0;
    b->flags = TCH_RTT_MODE_NO_BLOCK_SKIP;
}

void tch_rtt_init(void)
{
    volatile struct tch_rtt_cb *cb = &_SEGGER_RTT;

    cb->max_up = 1;
    cb->max_down = 1;
    tch_rtt_describe(&cb->up[0], tch_rtt_up, TCH_RTT_UP_SIZE);
    tch_rtt_describe(&cb->down[0], tch_rtt_down, TCH_RTT_DOWN_SIZE);
    /* The id last, as SEGGER does, in two steps and from single characters: a host searching RAM
     * finds neither a half-initialised block nor a "SEGGER RTT" string left by a .data copy. */
    TCH_DMB();
    cb->id[7] = 'R';
    cb->id[8] = 'T';
    cb->id[9] = 'T';
    TCH_DMB();
    cb->id[0] = 'S';
    cb->id[1] = 'E';
    cb->id[2] = 'G';
    cb->id[3] = 'G';
    cb->id[4] = 'E';
    cb->id[5] = 'R';
    TCH_DMB();
    cb->id[6] = ' ';
}

unsigned tch_rtt_write(const void *data, unsigned len)
{
    volatile struct tch_rtt_buffer *up = &_SEGGER_RTT.up[0];
    uint32_t wr, rd, room, first;

    if (((volatile char *)_SEGGER_RTT.id)[6] != ' ') {
        tch_rtt_init();
    }
    wr = up->wr_off;
    rd = up->rd_off; /* written by the host */
    if (wr >= TCH_RTT_UP_SIZE || rd >= TCH_RTT_UP_SIZE) {
        return 0; /* a corrupted descriptor: drop rather than write out of bounds */
    }
    room = rd > wr ? rd - wr - 1u : TCH_RTT_UP_SIZE - 1u - wr + rd;
    if (len > room) {
        return 0; /* NO_BLOCK_SKIP: all or nothing */
    }
    first = TCH_RTT_UP_SIZE - wr < len ? TCH_RTT_UP_SIZE - wr : len;
    memcpy(&tch_rtt_up[wr], data, first);
    memcpy(tch_rtt_up, (const char *)data + first, len - first);
    wr += len;
    if (wr >= TCH_RTT_UP_SIZE) {
        wr -= TCH_RTT_UP_SIZE;
    }
    TCH_DMB(); /* the bytes before the offset that publishes them */
    up->wr_off = wr;
    return len;
}

#endif
