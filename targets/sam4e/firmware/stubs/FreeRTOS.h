/*
 * Declaration-only stand-in for the FreeRTOS kernel's FreeRTOS.h (with a Cortex-M4F port's
 * portmacro.h and a typical FreeRTOSConfig.h folded in): just what the agent uses, so the agent
 * cross-compiles without the kernel tree. Never link against it; a real build uses the real one.
 */
#ifndef INC_FREERTOS_H
#define INC_FREERTOS_H

#include <stddef.h>
#include <stdint.h>

/* portmacro.h (ARM_CM4F) */
typedef uint32_t StackType_t;
typedef long BaseType_t;
typedef unsigned long UBaseType_t;
typedef uint32_t TickType_t;
#define portMAX_DELAY ((TickType_t)0xffffffffUL)
void vPortEnterCritical(void);
void vPortExitCritical(void);
#define portENTER_CRITICAL() vPortEnterCritical()
#define portEXIT_CRITICAL()  vPortExitCritical()

/* projdefs.h */
#define pdFALSE ((BaseType_t)0)
#define pdTRUE  ((BaseType_t)1)
#define pdPASS  (pdTRUE)
#define pdFAIL  (pdFALSE)
#define pdMS_TO_TICKS(xTimeInMs) \
    ((TickType_t)(((TickType_t)(xTimeInMs) * (TickType_t)configTICK_RATE_HZ) / (TickType_t)1000U))

/* FreeRTOSConfig.h: overridable, as a project sets them. */
#ifndef configTICK_RATE_HZ
#define configTICK_RATE_HZ ((TickType_t)1000)
#endif
#ifndef configMINIMAL_STACK_SIZE
#define configMINIMAL_STACK_SIZE ((uint16_t)130)
#endif
#ifndef configSUPPORT_STATIC_ALLOCATION
#define configSUPPORT_STATIC_ALLOCATION 1
#endif
#ifndef configSUPPORT_DYNAMIC_ALLOCATION
#define configSUPPORT_DYNAMIC_ALLOCATION 1
#endif
#ifndef configSTACK_DEPTH_TYPE
#define configSTACK_DEPTH_TYPE uint16_t
#endif

/* The static-allocation buffers: opaque here, sized as on a Cortex-M4F (kernel V10/V11). */
typedef struct xSTATIC_TCB {
    void *pvDummy[22];
} StaticTask_t;
typedef struct xSTATIC_QUEUE {
    void *pvDummy[20];
} StaticQueue_t;
typedef StaticQueue_t StaticSemaphore_t;

#endif /* INC_FREERTOS_H */
