/*
 * FreeRTOS-Kernel configuration for the host build of the harness agent: the POSIX port (one pthread
 * per task), FreeRTOS+TCP's libpcap NetworkInterface, heap_3 (malloc). Each line says why.
 */
#ifndef FREERTOS_CONFIG_H
#define FREERTOS_CONFIG_H

#include <stdint.h>

/* ---- scheduler ---- */
#define configUSE_PREEMPTION                    1   /* as on a board: a woken IP task preempts the agent */
#define configUSE_PORT_OPTIMISED_TASK_SELECTION 0   /* the POSIX port has no optimised selection */
#define configUSE_TIME_SLICING                  1
#define configTICK_RATE_HZ                      1000 /* t_start/t_end in ticks = ms; the agent README asks for it */
#define configTICK_TYPE_WIDTH_IN_BITS           TICK_TYPE_WIDTH_64_BITS /* the port's TickType_t is unsigned long */
#define configMAX_PRIORITIES                    7   /* IP task at 5 (ipconfigIP_TASK_PRIORITY = max - 2) */
#define configMINIMAL_STACK_SIZE                512 /* words; a POSIX task runs on its pthread's own stack, this
                                                     * only has to hold the port's Thread_t */
#define configMAX_TASK_NAME_LEN                 16
#define configIDLE_SHOULD_YIELD                 1
#define configUSE_MUTEXES                       1   /* FreeRTOS+TCP's socket locks */
#define configUSE_RECURSIVE_MUTEXES             1
#define configUSE_COUNTING_SEMAPHORES           1   /* BufferAllocation_2's buffer count */
#define configUSE_TASK_NOTIFICATIONS            1
#define configQUEUE_REGISTRY_SIZE               0
#define configUSE_QUEUE_SETS                    0
#define configUSE_TIMERS                        0   /* nothing here uses software timers: one thread less */
#define configUSE_CO_ROUTINES                   0
#define configUSE_TRACE_FACILITY                0
#define configUSE_NEWLIB_REENTRANT              0
#define configENABLE_BACKWARD_COMPATIBILITY     1

/* ---- hooks (glue.c) ---- */
#define configUSE_IDLE_HOOK                     1   /* sleeps until the next tick: the port's idle task would
                                                     * otherwise spin on a whole core */
#define configUSE_TICK_HOOK                     0
#define configUSE_MALLOC_FAILED_HOOK            1   /* out of memory is a harness error, not a silent NULL */
#define configCHECK_FOR_STACK_OVERFLOW          0   /* tasks run on pthread stacks: the FreeRTOS stack is unused */

/* ---- memory: heap_3 (malloc under vTaskSuspendAll) ---- */
#define configSUPPORT_DYNAMIC_ALLOCATION        1
#define configSUPPORT_STATIC_ALLOCATION         0   /* the agent then takes its workers from the heap */
#define configTOTAL_HEAP_SIZE                   ((size_t)(16u * 1024u * 1024u)) /* not used by heap_3 */
#define configAPPLICATION_ALLOCATED_HEAP        0

/* ---- API the agent, FreeRTOS+TCP and glue.c call ---- */
#define INCLUDE_vTaskPrioritySet                1
#define INCLUDE_uxTaskPriorityGet               1
#define INCLUDE_vTaskDelete                     1
#define INCLUDE_vTaskSuspend                    1   /* portMAX_DELAY blocks forever (the agent's TCH_FOREVER) */
#define INCLUDE_xTaskDelayUntil                 1
#define INCLUDE_vTaskDelay                      1   /* the workers' once-a-tick poll */
#define INCLUDE_xTaskGetSchedulerState          1
#define INCLUDE_xTaskGetCurrentTaskHandle       1   /* the POSIX port needs it */
#define INCLUDE_uxTaskGetStackHighWaterMark     0
#define INCLUDE_xTaskGetIdleTaskHandle          0
#define INCLUDE_eTaskGetState                   1
#define INCLUDE_xTimerPendFunctionCall          0
#define INCLUDE_xTaskAbortDelay                 1
#define INCLUDE_xTaskGetHandle                  0
#define INCLUDE_xSemaphoreGetMutexHolder        1

/* An assertion is a bug in the stack or the glue: print where and abort (the harness sees exit and
 * stderr), never continue with a corrupted kernel. */
void vAssertCalled(const char *file, unsigned long line);
#define configASSERT(x)                         \
    do {                                        \
        if ((x) == 0) {                         \
            vAssertCalled(__FILE__, __LINE__);  \
        }                                       \
    } while (0)

/* ---- FreeRTOS+TCP's libpcap NetworkInterface (portable/NetworkInterface/linux) ---- */
#define configNETWORK_INTERFACE_TO_USE          1L  /* glue.c's pcap_findalldevs lists only $TCH_IF */
#define configMAC_ISR_SIMULATOR_PRIORITY        (configMAX_PRIORITIES - 1) /* like an ISR: above the IP task */
#define configWINDOWS_MAC_INTERRUPT_SIMULATOR_DELAY 1 /* ticks between polls of the pcap thread's buffer */
/* Only used as the netmask argument of pcap_compile() for the capture filter (no IP terms in it). */
#define configNET_MASK0                         255
#define configNET_MASK1                         255
#define configNET_MASK2                         255
#define configNET_MASK3                         0

#endif /* FREERTOS_CONFIG_H */
