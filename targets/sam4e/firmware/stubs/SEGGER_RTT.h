/* Declaration-only stand-in for SEGGER's SEGGER_RTT.h: what tch_rtt.c uses when TCH_USE_SEGGER_RTT=1. */
#ifndef SEGGER_RTT_H
#define SEGGER_RTT_H

#define SEGGER_RTT_MODE_NO_BLOCK_SKIP (0)

void SEGGER_RTT_Init(void);
unsigned SEGGER_RTT_Write(unsigned BufferIndex, const void *pBuffer, unsigned NumBytes);
int SEGGER_RTT_SetFlagsUpBuffer(unsigned BufferIndex, unsigned Flags);

#endif /* SEGGER_RTT_H */
