/* Declaration-only stand-in for the FreeRTOS kernel's event_groups.h (see FreeRTOS.h here): the
 * type FreeRTOS_Sockets.h's select functions take. */
#ifndef EVENT_GROUPS_H
#define EVENT_GROUPS_H

#ifndef INC_FREERTOS_H
#error "include FreeRTOS.h must appear in source files before include event_groups.h"
#endif

typedef TickType_t EventBits_t;

#endif /* EVENT_GROUPS_H */
