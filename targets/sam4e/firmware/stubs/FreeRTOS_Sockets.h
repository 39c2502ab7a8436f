/*
 * Declaration-only stand-in for FreeRTOS+TCP V4.4.1's FreeRTOS_Sockets.h: the names and values
 * the agent uses (see FreeRTOS.h here).
 */
#ifndef FREERTOS_SOCKETS_H
#define FREERTOS_SOCKETS_H

#ifndef INC_FREERTOS_H
#error "FreeRTOS.h must be included before FreeRTOS_Sockets.h."
#endif

#include "FreeRTOS_IP.h" /* IP_Address_t (FreeRTOS_IP_Common.h in the real tree) */
#include "event_groups.h" /* EventBits_t, as the real header includes it */

#define FREERTOS_INVALID_SOCKET ((Socket_t) ~0U)

#define FREERTOS_AF_INET      (2)
#define FREERTOS_SOCK_STREAM  (1)
#define FREERTOS_IPPROTO_TCP  (6)

/* xFlags of the send/receive functions. */
#define FREERTOS_ZERO_COPY    (1)
#define FREERTOS_MSG_OOB      (2)
#define FREERTOS_MSG_PEEK     (4)
#define FREERTOS_MSG_DONTROUTE (8)
#define FREERTOS_MSG_DONTWAIT (16)

/* FreeRTOS_setsockopt() option names (the conditional ones as if their ipconfig is on). */
#define FREERTOS_SO_RCVTIMEO            (0)
#define FREERTOS_SO_SNDTIMEO            (1)
#define FREERTOS_SO_UDPCKSUM_OUT        (2)
#define FREERTOS_SO_SET_SEMAPHORE       (3)
#define FREERTOS_SO_SNDBUF              (4)
#define FREERTOS_SO_RCVBUF              (5)
#define FREERTOS_SO_TCP_CONN_HANDLER    (6)
#define FREERTOS_SO_TCP_RECV_HANDLER    (7)
#define FREERTOS_SO_TCP_SENT_HANDLER    (8)
#define FREERTOS_SO_UDP_RECV_HANDLER    (9)
#define FREERTOS_SO_UDP_SENT_HANDLER    (10)
#define FREERTOS_SO_REUSE_LISTEN_SOCKET (11)
#define FREERTOS_SO_CLOSE_AFTER_SEND    (12)
#define FREERTOS_SO_WIN_PROPERTIES      (13)
#define FREERTOS_SO_SET_FULL_SIZE       (14)
#define FREERTOS_SO_STOP_RX             (15)
#define FREERTOS_SO_UDP_MAX_RX_PACKETS  (16)
#define FREERTOS_SO_WAKEUP_CALLBACK     (17)
#define FREERTOS_SO_SET_LOW_HIGH_WATER  (18)

#define FREERTOS_SHUT_RD   (0)
#define FREERTOS_SHUT_WR   (1)
#define FREERTOS_SHUT_RDWR (2)

#define socklen_t uint32_t

struct freertos_sockaddr {
    uint8_t sin_len;
    uint8_t sin_family;
    uint16_t sin_port;
    uint32_t sin_flowinfo;
    IP_Address_t sin_address;
};

struct xSOCKET;
typedef struct xSOCKET *Socket_t;
typedef struct xSOCKET const *ConstSocket_t;

typedef struct xWIN_PROPS {
    int32_t lTxBufSize; /* bytes */
    int32_t lTxWinSize; /* MSS */
    int32_t lRxBufSize; /* bytes */
    int32_t lRxWinSize; /* MSS */
} WinProperties_t;

typedef struct xLOW_HIGH_WATER {
    size_t uxLittleSpace;
    size_t uxEnoughSpace;
} LowHighWater_t;

Socket_t FreeRTOS_socket(BaseType_t xDomain, BaseType_t xType, BaseType_t xProtocol);
BaseType_t FreeRTOS_bind(Socket_t xSocket, struct freertos_sockaddr const *pxAddress,
                         socklen_t xAddressLength);
BaseType_t FreeRTOS_setsockopt(Socket_t xSocket, int32_t lLevel, int32_t lOptionName,
                               const void *pvOptionValue, size_t uxOptionLength);
BaseType_t FreeRTOS_closesocket(Socket_t xSocket);
BaseType_t FreeRTOS_connect(Socket_t xClientSocket, const struct freertos_sockaddr *pxAddress,
                            socklen_t xAddressLength);
BaseType_t FreeRTOS_listen(Socket_t xSocket, BaseType_t xBacklog);
Socket_t FreeRTOS_accept(Socket_t xServerSocket, struct freertos_sockaddr *pxAddress,
                         socklen_t *pxAddressLength);
BaseType_t FreeRTOS_send(Socket_t xSocket, const void *pvBuffer, size_t uxDataLength, BaseType_t xFlags);
BaseType_t FreeRTOS_recv(Socket_t xSocket, void *pvBuffer, size_t uxBufferLength, BaseType_t xFlags);
BaseType_t FreeRTOS_shutdown(Socket_t xSocket, BaseType_t xHow);
BaseType_t FreeRTOS_issocketconnected(ConstSocket_t xSocket);
BaseType_t FreeRTOS_connstatus(ConstSocket_t xSocket);

#if (ipconfigSUPPORT_SELECT_FUNCTION == 1)
struct xSOCKET_SET;
typedef struct xSOCKET_SET *SocketSet_t;
typedef struct xSOCKET_SET const *ConstSocketSet_t;

SocketSet_t FreeRTOS_CreateSocketSet(void);
void FreeRTOS_DeleteSocketSet(SocketSet_t xSocketSet);
BaseType_t FreeRTOS_select(SocketSet_t xSocketSet, TickType_t xBlockTimeTicks);

typedef enum eSELECT_EVENT {
    eSELECT_READ = 0x0001,
    eSELECT_WRITE = 0x0002,
    eSELECT_EXCEPT = 0x0004,
    eSELECT_INTR = 0x0008,
    eSELECT_ALL = 0x000F,
    /* Reserved for internal use: */
    eSELECT_CALL_IP = 0x0010
} eSelectEvent_t;

void FreeRTOS_FD_SET(Socket_t xSocket, SocketSet_t xSocketSet, EventBits_t xBitsToSet);
void FreeRTOS_FD_CLR(Socket_t xSocket, SocketSet_t xSocketSet, EventBits_t xBitsToClear);
EventBits_t FreeRTOS_FD_ISSET(const ConstSocket_t xSocket, const ConstSocketSet_t xSocketSet);
#endif /* ipconfigSUPPORT_SELECT_FUNCTION == 1 */

#endif /* FREERTOS_SOCKETS_H */
