/*
 * Declaration-only stand-in for FreeRTOS+TCP V4.4.1's FreeRTOS_IP.h, with the bits of
 * FreeRTOSIPConfig.h and FreeRTOS_IP_Common.h the agent uses (see FreeRTOS.h here).
 */
#ifndef FREERTOS_IP_H
#define FREERTOS_IP_H

#ifndef INC_FREERTOS_H
#error "include FreeRTOS.h before FreeRTOS_IP.h"
#endif

/* FreeRTOSIPConfig.h: the options the agent and the suite need (see ../README.md). */
#ifndef ipconfigUSE_TCP
#define ipconfigUSE_TCP 1
#endif
#ifndef ipconfigSOCKET_HAS_USER_SEMAPHORE
#define ipconfigSOCKET_HAS_USER_SEMAPHORE 1
#endif
#ifndef ipconfigSUPPORT_SELECT_FUNCTION
#define ipconfigSUPPORT_SELECT_FUNCTION 1 /* -DipconfigSUPPORT_SELECT_FUNCTION=0: the build without */
#endif

/* FreeRTOS_IP_Common.h */
typedef struct xIPv6_Address {
    uint8_t ucBytes[16];
} IPv6_Address_t;
typedef union IP_Address {
    uint32_t ulIP_IPv4;
    IPv6_Address_t xIP_IPv6;
} IP_Address_t;

/* FreeRTOS_IP.h, little-endian (ipconfigBYTE_ORDER == pdFREERTOS_LITTLE_ENDIAN) */
#define FreeRTOS_htons(usIn) ((uint16_t)(((usIn) << 8U) | ((usIn) >> 8U)))

/* Every FreeRTOS+TCP application provides it. */
BaseType_t xApplicationGetRandomNumber(uint32_t *pulNumber);

#endif /* FREERTOS_IP_H */
