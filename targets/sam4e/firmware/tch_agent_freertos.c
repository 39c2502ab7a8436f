/*
 * The FreeRTOS+TCP bindings of the harness agent: handle tables, the op switch and the workers.
 * The protocol itself (validation, copying, ordering) is tch_mailbox.c.
 */
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "FreeRTOS.h"
#include "task.h"
#include "semphr.h"
#include "FreeRTOS_IP.h"
#include "FreeRTOS_Sockets.h"

#include "tch_agent.h"
#include "tch_format.h"
#include "tch_mailbox.h"
#include "tch_rtt.h"

#if !defined(ipconfigUSE_TCP) || (ipconfigUSE_TCP != 1)
#error "the harness agent needs ipconfigUSE_TCP 1"
#endif

/* SELECT needs FreeRTOS_select(); a build without it answers SELECT with TCH_ST_UNSUPPORTED. */
#if defined(ipconfigSUPPORT_SELECT_FUNCTION) && (ipconfigSUPPORT_SELECT_FUNCTION == 1)
#define TCH_SELECT 1
#else
#define TCH_SELECT 0
#endif

/* Option numbers that FreeRTOS_Sockets.h defines only under some ipconfig (V4.4.1 values). */
#define TCH_SO_SET_SEMAPHORE      3
#define TCH_SO_TCP_CONN_HANDLER   6
#define TCH_SO_UDP_SENT_HANDLER   10
#define TCH_SO_UDP_MAX_RX_PACKETS 16
#define TCH_SO_WAKEUP_CALLBACK    17

struct tch_mailbox tch_mailbox;

/* Handle h names tch_sockets[h - 1]; 0 is never a handle. */
struct tch_socket_entry {
    Socket_t socket;    /* NULL: the handle names no socket */
#if TCH_SELECT
    SocketSet_t set;    /* SELECT's set for this socket, made on its first SELECT (NULL: none yet) */
    uint8_t selecting;  /* SELECTs running on `set`: a closed socket's set outlives the last one */
    uint8_t closing;    /* CLOSESOCKET is between taking the handle and FreeRTOS_closesocket() */
#endif
};
static struct tch_socket_entry tch_sockets[TCH_MAX_SOCKETS];
static SemaphoreHandle_t tch_sems[TCH_MAX_SEMAPHORES];
static uint8_t tch_sem_reserved[TCH_MAX_SEMAPHORES];

#if (configSUPPORT_STATIC_ALLOCATION == 1)
/* Static when the project allows it: the RAM shows in the map file and never fails at run time. */
static StaticTask_t tch_tcb[TCH_SLOTS];
static StackType_t tch_stack[TCH_SLOTS][TCH_WORKER_STACK_WORDS];
static StaticSemaphore_t tch_sem_buffers[TCH_MAX_SEMAPHORES];
#endif

/* ---- handle tables: several workers use them, so every change is under a critical section ---- */

/* An entry a new socket may take: no socket, and nothing left of the previous one's set. */
static int tch_entry_free(const struct tch_socket_entry *e)
{
#if TCH_SELECT
    return e->socket == NULL && e->set == NULL && e->selecting == 0u && e->closing == 0u;
#else
    return e->socket == NULL;
#endif
}

/* s's handle: its existing one (accept returns the listening socket itself under
 * FREERTOS_SO_REUSE_LISTEN_SOCKET), else a new one; 0 when the table is full. */
static int32_t tch_socket_add(Socket_t s)
{
    int32_t h, found = 0, free_h = 0;

    taskENTER_CRITICAL();
    for (h = 1; h <= (int32_t)TCH_MAX_SOCKETS && found == 0; h++) {
        if (tch_sockets[h - 1].socket == s) {
            found = h;
        } else if (free_h == 0 && tch_entry_free(&tch_sockets[h - 1])) {
            free_h = h;
        }
    }
    if (found == 0 && free_h != 0) {
        tch_sockets[free_h - 1].socket = s;
        found = free_h;
    }
    taskEXIT_CRITICAL();
    return found;
}

/* The socket for handle h (NULL: none); `take` also frees the handle (CLOSESOCKET). */
static Socket_t tch_socket_get(int32_t h, int take)
{
    Socket_t s = NULL;

    if (h >= 1 && h <= (int32_t)TCH_MAX_SOCKETS) {
        taskENTER_CRITICAL();
        s = tch_sockets[h - 1].socket;
        if (take) {
            tch_sockets[h - 1].socket = NULL;
#if TCH_SELECT
            /* Its set, if any, is deleted once FreeRTOS_closesocket() is under way (tch_set_closed). */
            if (s != NULL) {
                tch_sockets[h - 1].closing = 1u;
            }
#endif
        }
        taskEXIT_CRITICAL();
    }
    return s;
}

#if TCH_SELECT
/* ---- socket sets: one per handle, for SELECT ----
 *
 * A set is deleted only after FreeRTOS_closesocket() of its socket has been sent to the IP task and
 * no SELECT runs on it any more: the IP task handles the close before the deletion (its event
 * queue is in order), so neither the socket nor a running FreeRTOS_select() ever uses a freed set.
 */

/* Handle h's socket (in *s) and its set, made on first use, counted as in use until
 * tch_set_release(h). NULL with *status BAD_SOCKET when h names no socket (closed meanwhile), or
 * NO_MEMORY when FreeRTOS_CreateSocketSet() found no heap. h is a valid handle. */
static SocketSet_t tch_set_acquire(int32_t h, Socket_t *s, int32_t *status)
{
    struct tch_socket_entry *e = &tch_sockets[h - 1];
    SocketSet_t set = NULL, made = NULL;
    int round;

    /* Two rounds at most: the first finds no set and makes one, the second installs it (or uses
     * the one another slot installed meanwhile). FreeRTOS allocates: not in a critical section. */
    for (round = 0; round < 2 && set == NULL; round++) {
        taskENTER_CRITICAL();
        *s = e->socket;
        if (*s != NULL) {
            if (e->set == NULL) {
                e->set = made;
                made = NULL;
            }
            set = e->set;
            if (set != NULL) {
                e->selecting++;
            }
        }
        taskEXIT_CRITICAL();
        if (*s == NULL) {
            *status = TCH_ST_BAD_SOCKET;
            break;
        }
        if (set == NULL) {
            made = FreeRTOS_CreateSocketSet();
            if (made == NULL) {
                *status = TCH_ST_NO_MEMORY;
                break;
            }
        }
    }
    if (made != NULL) {
        FreeRTOS_DeleteSocketSet(made); /* never used: another slot's set won, or the socket closed */
    }
    return set;
}

/* A SELECT on handle h's set returned: the last one out deletes the set of a closed socket. */
static void tch_set_release(int32_t h)
{
    struct tch_socket_entry *e = &tch_sockets[h - 1];
    SocketSet_t set = NULL;

    taskENTER_CRITICAL();
    e->selecting--;
    if (e->selecting == 0u && e->socket == NULL && e->closing == 0u) {
        set = e->set;
        e->set = NULL;
    }
    taskEXIT_CRITICAL();
    if (set != NULL) {
        FreeRTOS_DeleteSocketSet(set);
    }
}

/* CLOSESOCKET of handle h called FreeRTOS_closesocket() (`closed`: it returned 1): delete the set
 * unless a SELECT still runs on it. A close that failed leaves the set to the socket (a leak). */
static void tch_set_closed(int32_t h, int closed)
{
    struct tch_socket_entry *e = &tch_sockets[h - 1];
    SocketSet_t set = NULL;

    taskENTER_CRITICAL();
    e->closing = 0u;
    if (e->selecting == 0u || !closed) {
        set = e->set;
        e->set = NULL;
    }
    taskEXIT_CRITICAL();
    if (set != NULL && closed) {
        FreeRTOS_DeleteSocketSet(set);
    }
}

/* FreeRTOS puts a new child socket in its listening socket's set (prvHandleListen: the parent's set,
 * its bits | READ | EXCEPT). SELECT watches one socket, so an accepted child leaves that set: its
 * events would show in the listener's SELECT, and it would keep pointing at a set deleted with the
 * listener. FreeRTOS_FD_CLR() writes to the child only. */
static void tch_set_leave_parent(int32_t h, Socket_t listener, Socket_t child)
{
    SocketSet_t set;

    if (child == NULL || child == FREERTOS_INVALID_SOCKET || child == listener) {
        return;
    }
    taskENTER_CRITICAL();
    set = tch_sockets[h - 1].set;
    taskEXIT_CRITICAL();
    if (set != NULL) {
        FreeRTOS_FD_CLR(child, set, (EventBits_t)eSELECT_ALL);
    }
}
#endif /* TCH_SELECT */

static SemaphoreHandle_t tch_sem_get(int32_t h)
{
    SemaphoreHandle_t sem = NULL;

    if (h >= 1 && h <= (int32_t)TCH_MAX_SEMAPHORES) {
        taskENTER_CRITICAL();
        sem = tch_sems[h - 1];
        taskEXIT_CRITICAL();
    }
    return sem;
}

/* A new binary semaphore's handle; 0 with *status NO_HANDLE when the table is full, 0 with status
 * OK when FreeRTOS could not make one (as xSemaphoreCreateBinary's NULL). */
static int32_t tch_sem_create(int32_t *status)
{
    int32_t h, idx = -1;
    SemaphoreHandle_t sem;

    /* Reserve the entry first: with static allocation its buffer is only ours once reserved. */
    taskENTER_CRITICAL();
    for (h = 0; h < (int32_t)TCH_MAX_SEMAPHORES && idx < 0; h++) {
        if (!tch_sem_reserved[h]) {
            tch_sem_reserved[h] = 1;
            idx = h;
        }
    }
    taskEXIT_CRITICAL();
    if (idx < 0) {
        *status = TCH_ST_NO_HANDLE;
        return 0;
    }
#if (configSUPPORT_STATIC_ALLOCATION == 1)
    sem = xSemaphoreCreateBinaryStatic(&tch_sem_buffers[idx]);
#else
    sem = xSemaphoreCreateBinary();
#endif
    taskENTER_CRITICAL();
    tch_sems[idx] = sem;
    tch_sem_reserved[idx] = sem != NULL;
    taskEXIT_CRITICAL();
    return sem != NULL ? idx + 1 : 0;
}

/* ---- arguments ---- */

/* Milliseconds (or TCH_FOREVER) as ticks, like pdMS_TO_TICKS but without its 32-bit overflow;
 * a finite time never becomes portMAX_DELAY. 0 for a negative time other than TCH_FOREVER. */
static int tch_ms_to_ticks(int32_t ms, TickType_t *ticks)
{
    uint64_t t;

    if (ms == TCH_FOREVER) {
        *ticks = portMAX_DELAY;
        return 1;
    }
    if (ms < 0) {
        return 0;
    }
    t = (uint64_t)(uint32_t)ms * (uint64_t)configTICK_RATE_HZ / 1000u;
    *ticks = t >= (uint64_t)portMAX_DELAY ? portMAX_DELAY - 1u : (TickType_t)t;
    return 1;
}

static void tch_ipv4(struct freertos_sockaddr *a, uint32_t ip_network_order, int32_t port)
{
    memset(a, 0, sizeof *a);
    a->sin_len = (uint8_t)sizeof *a;
    a->sin_family = FREERTOS_AF_INET;
    a->sin_port = FreeRTOS_htons((uint16_t)port);
    a->sin_address.ulIP_IPv4 = ip_network_order;
}

static int tch_port_ok(int32_t port)
{
    return port >= 0 && port <= 65535;
}

/* FreeRTOS_setsockopt() with arg[2] (or the request bytes) turned into what the option reads. */
static int32_t tch_setsockopt(Socket_t s, const int32_t arg[TCH_ARGS], const uint8_t *data,
                              uint32_t data_len, int32_t *status)
{
    int32_t option = arg[1], value = arg[2];
    BaseType_t flag = (BaseType_t)value;
    const void *pv = &flag;
    size_t len = sizeof flag;
    TickType_t ticks;
    SemaphoreHandle_t sem = NULL;
    uint32_t u32, words[2];
    UBaseType_t ub;
    WinProperties_t win;
    LowHighWater_t water;

    switch (option) {
    case FREERTOS_SO_RCVTIMEO:
    case FREERTOS_SO_SNDTIMEO:
        if (!tch_ms_to_ticks(value, &ticks)) {
            goto bad_arg;
        }
        pv = &ticks;
        len = sizeof ticks;
        break;
    case TCH_SO_SET_SEMAPHORE: /* 0 detaches; FreeRTOS reads a SemaphoreHandle_t */
        if (value != 0 && (sem = tch_sem_get(value)) == NULL) {
            goto bad_arg;
        }
        pv = &sem;
        len = sizeof sem;
        break;
    case FREERTOS_SO_SNDBUF:
    case FREERTOS_SO_RCVBUF: /* FreeRTOS reads a uint32_t */
        if (value < 0) {
            goto bad_arg;
        }
        u32 = (uint32_t)value;
        pv = &u32;
        len = sizeof u32;
        break;
    case FREERTOS_SO_UDPCKSUM_OUT: /* FreeRTOS tests the pointer itself against NULL */
        pv = value != 0 ? (const void *)&flag : NULL;
        break;
    case TCH_SO_UDP_MAX_RX_PACKETS: /* FreeRTOS reads a UBaseType_t */
        if (value < 0) {
            goto bad_arg;
        }
        ub = (UBaseType_t)value;
        pv = &ub;
        len = sizeof ub;
        break;
    case FREERTOS_SO_WIN_PROPERTIES: /* data: lTxBufSize, lTxWinSize, lRxBufSize, lRxWinSize */
        if (data_len != 4u * sizeof(int32_t)) {
            goto bad_arg;
        }
        memcpy(&win, data, sizeof win);
        pv = &win;
        len = sizeof win;
        break;
    case FREERTOS_SO_SET_LOW_HIGH_WATER: /* data: uxLittleSpace, uxEnoughSpace as uint32 */
        if (data_len != sizeof words) {
            goto bad_arg;
        }
        memcpy(words, data, sizeof words);
        water.uxLittleSpace = (size_t)words[0];
        water.uxEnoughSpace = (size_t)words[1];
        pv = &water;
        len = sizeof water;
        break;
    case TCH_SO_WAKEUP_CALLBACK:
        goto bad_arg; /* the value would be a code address: nothing the harness can give */
    default:
        if (option >= TCH_SO_TCP_CONN_HANDLER && option <= TCH_SO_UDP_SENT_HANDLER) {
            goto bad_arg; /* F_TCP_UDP_Handler_t: function pointers, as above */
        }
        /* The booleans (REUSE_LISTEN_SOCKET, CLOSE_AFTER_SEND, SET_FULL_SIZE, STOP_RX) read a
         * BaseType_t; an unknown option gets FreeRTOS's own answer (-pdFREERTOS_ERRNO_ENOPROTOOPT). */
        break;
    }
    return (int32_t)FreeRTOS_setsockopt(s, 0, option, pv, len);

bad_arg:
    *status = TCH_ST_BAD_ARG;
    return 0;
}

#if TCH_SELECT
/* FreeRTOS_select() on handle h's own set, as targets/inprocess.py's `_select`: every bit of the
 * socket cleared (FD_CLR), the asked `events` set (FD_SET), then the wait. */
static int32_t tch_select(int32_t h, EventBits_t events, int32_t ms, int32_t *status)
{
    Socket_t s;
    SocketSet_t set;
    TickType_t ticks;
    BaseType_t r;

    if (!tch_ms_to_ticks(ms, &ticks)) {
        *status = TCH_ST_BAD_ARG; /* tch_mailbox.c refused it already */
        return 0;
    }
    set = tch_set_acquire(h, &s, status);
    if (set == NULL) {
        return 0;
    }
    FreeRTOS_FD_CLR(s, set, (EventBits_t)eSELECT_ALL);
    FreeRTOS_FD_SET(s, set, events);
    r = FreeRTOS_select(set, ticks);
    tch_set_release(h);
    return (int32_t)r;
}
#endif /* TCH_SELECT */

/* A new socket's handle, or -1 for FREERTOS_INVALID_SOCKET; a socket that finds no handle is
 * closed again (the harness could never name it) and answered NO_HANDLE. */
static int32_t tch_socket_result(Socket_t s, int32_t *status)
{
    int32_t h;

    if (s == NULL) {
        return 0; /* accept: timed out */
    }
    if (s == FREERTOS_INVALID_SOCKET) {
        return -1;
    }
    h = tch_socket_add(s);
    if (h == 0) {
        (void)FreeRTOS_closesocket(s);
        *status = TCH_ST_NO_HANDLE;
    }
    return h;
}

/* ---- the op switch (tch_ops.call) ---- */

static int32_t tch_agent_call(void *ctx, uint32_t op, const int32_t arg[TCH_ARGS], const uint8_t *data,
                              uint32_t data_len, uint8_t *out, uint32_t out_cap, uint32_t *out_len,
                              int32_t *status)
{
    struct freertos_sockaddr addr;
    socklen_t addr_len = sizeof addr;
    TickType_t ticks;
    SemaphoreHandle_t sem;
    Socket_t s = NULL, child;
    BaseType_t r;

    (void)ctx;
    switch (op) {
    case TCH_OP_NOP:
    case TCH_OP_SOCKET:
    case TCH_OP_SEM_CREATE:
    case TCH_OP_SEM_TAKE:
        break;
#if !TCH_SELECT
    case TCH_OP_SELECT: /* built without ipconfigSUPPORT_SELECT_FUNCTION 1: no FreeRTOS_select() */
        *status = TCH_ST_UNSUPPORTED;
        return 0;
#endif
    default: /* every other op names a socket in arg[0] */
        s = tch_socket_get(arg[0], op == TCH_OP_CLOSESOCKET);
        if (s == NULL) {
            *status = TCH_ST_BAD_SOCKET;
            return 0;
        }
        break;
    }

    switch (op) {
    case TCH_OP_NOP:
        return 0;
    case TCH_OP_SOCKET:
        return tch_socket_result(FreeRTOS_socket(FREERTOS_AF_INET, FREERTOS_SOCK_STREAM, FREERTOS_IPPROTO_TCP),
                                 status);
    case TCH_OP_BIND:
        if (!tch_port_ok(arg[1])) {
            break;
        }
        tch_ipv4(&addr, 0u, arg[1]); /* FREERTOS_INADDR_ANY */
        return (int32_t)FreeRTOS_bind(s, &addr, sizeof addr);
    case TCH_OP_LISTEN:
        return (int32_t)FreeRTOS_listen(s, (BaseType_t)arg[1]);
    case TCH_OP_ACCEPT:
        child = FreeRTOS_accept(s, &addr, &addr_len);
#if TCH_SELECT
        tch_set_leave_parent(arg[0], s, child);
#endif
        return tch_socket_result(child, status);
    case TCH_OP_CONNECT:
        if (!tch_port_ok(arg[2])) {
            break;
        }
        tch_ipv4(&addr, (uint32_t)arg[1], arg[2]);
        return (int32_t)FreeRTOS_connect(s, &addr, sizeof addr);
    case TCH_OP_SEND:
        if ((arg[1] & FREERTOS_ZERO_COPY) != 0) {
            break; /* zero-copy hands out stack buffers: meaningless across the mailbox */
        }
        return (int32_t)FreeRTOS_send(s, data, (size_t)data_len, (BaseType_t)arg[1]);
    case TCH_OP_RECV:
        if ((arg[2] & FREERTOS_ZERO_COPY) != 0) {
            break;
        }
        r = FreeRTOS_recv(s, out, (size_t)arg[1], (BaseType_t)arg[2]);
        if (r > 0) {
            *out_len = (uint32_t)r <= out_cap ? (uint32_t)r : out_cap;
        }
        return (int32_t)r;
    case TCH_OP_SHUTDOWN:
        return (int32_t)FreeRTOS_shutdown(s, (BaseType_t)arg[1]);
    case TCH_OP_CLOSESOCKET:
        r = FreeRTOS_closesocket(s); /* the handle was freed by tch_socket_get */
#if TCH_SELECT
        tch_set_closed(arg[0], r == 1);
#endif
        return (int32_t)r;
    case TCH_OP_SETSOCKOPT:
        return tch_setsockopt(s, arg, data, data_len, status);
    case TCH_OP_ISCONNECTED:
        return (int32_t)FreeRTOS_issocketconnected(s);
    case TCH_OP_CONNSTATUS:
        return (int32_t)FreeRTOS_connstatus(s);
    case TCH_OP_SEM_CREATE:
        return tch_sem_create(status);
    case TCH_OP_SEM_TAKE:
        sem = tch_sem_get(arg[0]);
        if (sem == NULL || !tch_ms_to_ticks(arg[1], &ticks)) {
            break;
        }
        return xSemaphoreTake(sem, ticks) == pdTRUE ? 1 : 0;
#if TCH_SELECT
    case TCH_OP_SELECT: /* arg[1] within eSELECT_ALL, arg[2] >= TCH_FOREVER: tch_mailbox.c checked */
        return tch_select(arg[0], (EventBits_t)arg[1], arg[2], status);
#endif
    default:
        *status = TCH_ST_BAD_OP; /* tch_mailbox.c knows an op this switch does not */
        return 0;
    }
    *status = TCH_ST_BAD_ARG;
    return 0;
}

static uint32_t tch_agent_ticks(void *ctx)
{
    (void)ctx;
    return (uint32_t)xTaskGetTickCount();
}

static void tch_agent_done(void *ctx, unsigned slot, uint32_t op, int32_t status, int32_t result)
{
    (void)ctx;
#if TCH_LOG_CALLS
    tch_log("tch%u op %u status %ld result %ld\n", slot, (unsigned)op, (long)status, (long)result);
#else
    (void)slot;
    (void)op;
    (void)status;
    (void)result;
#endif
}

static const struct tch_ops tch_agent_ops = {NULL, tch_agent_call, tch_agent_ticks, tch_agent_done};

/* ---- workers ---- */

static void tch_worker(void *param)
{
    unsigned slot = (unsigned)(uintptr_t)param;

    for (;;) {
        (void)tch_slot_service(&tch_mailbox, slot, &tch_agent_ops);
        taskENTER_CRITICAL();
        tch_heartbeat(&tch_mailbox);
        taskEXIT_CRITICAL();
        /* Always yield a tick, even after a call: a host rewriting req_seq in a loop must not
         * starve the tasks below this priority. */
        vTaskDelay(1);
    }
}

void tch_log(const char *fmt, ...)
{
    char line[TCH_LOG_LINE];
    unsigned n;
    va_list ap;

    n = tch_format(line, sizeof line, "%lu ", (unsigned long)xTaskGetTickCount());
    va_start(ap, fmt);
    n += tch_vformat(line + n, (unsigned)sizeof line - n, fmt, ap);
    va_end(ap);
    taskENTER_CRITICAL();
    (void)tch_rtt_write(line, n);
    taskEXIT_CRITICAL();
}

void tch_agent_start(UBaseType_t priority)
{
    static int started;
    uint32_t boot_id = 0;
    unsigned i;

    if (started) {
        return;
    }
    started = 1;
    tch_rtt_init();
    /* A value that differs between boots lets the host tell a reboot from a slow answer; the tick
     * count is always 0 here, the application's random number is not. */
    (void)xApplicationGetRandomNumber(&boot_id);
    tch_mailbox_init(&tch_mailbox, boot_id);
    for (i = 0; i < TCH_SLOTS; i++) {
#if (configSUPPORT_STATIC_ALLOCATION == 1)
        (void)xTaskCreateStatic(tch_worker, "tch", TCH_WORKER_STACK_WORDS, (void *)(uintptr_t)i, priority,
                                tch_stack[i], &tch_tcb[i]);
#else
        if (xTaskCreate(tch_worker, "tch", TCH_WORKER_STACK_WORDS, (void *)(uintptr_t)i, priority, NULL)
            != pdPASS) {
            tch_log("tch: no heap for worker %u\n", i);
        }
#endif
    }
    tch_log("tch: agent up, layout %u, %u slots, mailbox 0x%08lx, boot %08lx\n", (unsigned)TCH_LAYOUT_VERSION,
            (unsigned)TCH_SLOTS, (unsigned long)(uintptr_t)&tch_mailbox, (unsigned long)boot_id);
}
