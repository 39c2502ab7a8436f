/*
 * The harness agent for FreeRTOS+TCP: one worker task per mailbox slot, each running the socket
 * calls the harness asks for (PROTOCOL.md). See README.md here for how to add it to a project.
 */
#ifndef TCH_AGENT_H
#define TCH_AGENT_H

#include "FreeRTOS.h"

#include "tch_format.h"
#include "tch_mailbox.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef TCH_MAX_SOCKETS
#define TCH_MAX_SOCKETS 8u /* handle table: sockets the harness has open at once */
#endif
#ifndef TCH_MAX_SEMAPHORES
#define TCH_MAX_SEMAPHORES 4u /* semaphores are never deleted: per boot */
#endif
#ifndef TCH_WORKER_STACK_WORDS
/* 1.1 KiB request copy + the FreeRTOS+TCP call + a log line; README.md has the measured numbers. */
#define TCH_WORKER_STACK_WORDS 640u
#endif
#ifndef TCH_LOG_CALLS
#define TCH_LOG_CALLS 1 /* one RTT line per mailbox call */
#endif
#ifndef TCH_LOG_LINE
#define TCH_LOG_LINE 96u /* longest log line; longer ones are cut */
#endif

/* The mailbox the harness finds by this symbol. */
extern struct tch_mailbox tch_mailbox;

/* Initialise RTT and the mailbox (a fresh boot_id), then create the TCH_SLOTS workers at
 * `priority` (below the IP task's). Call once, after FreeRTOS_IPInit(); before or after
 * vTaskStartScheduler(). Only the first call does anything. */
void tch_agent_start(UBaseType_t priority);

/* printf-style line to RTT up-channel 0, prefixed with the tick count; never blocks (dropped when
 * the buffer is full). Task context only: it uses a critical section. */
void tch_log(const char *fmt, ...) TCH_PRINTF(1, 2);

#ifdef __cplusplus
}
#endif

#endif /* TCH_AGENT_H */
