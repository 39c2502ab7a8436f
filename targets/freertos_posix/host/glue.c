/*
 * Link-time glue for running the unmodified FreeRTOS-Kernel POSIX port and FreeRTOS+TCP's libpcap
 * NetworkInterface as a harness device. Nothing here edits FreeRTOS: the clock and libpcap fixes are
 * `ld --wrap` wrappers around the calls the port and the driver make, the rest are the application
 * hooks FreeRTOS expects the application to provide.
 *
 * Clock. The port's tick thread does `pthread_kill(current task, SIGALRM); usleep(1000)`: each
 * usleep overshoots (timer slack, wake-up latency), so it ran about 7 % slow, and a SIGALRM sent
 * while the previous one is still pending (the target thread in a critical section or just being
 * switched out) merges with it and the tick is lost for good. Here the tick thread sleeps to an
 * absolute 1 ms grid on CLOCK_MONOTONIC instead, and a task compares the tick count with the grid
 * every few ticks and adds lost ticks back with xTaskCatchUpTicks() (it must run in a task: it
 * suspends the scheduler).
 *
 * libpcap. Without immediate mode, libpcap's TPACKET_V3 ring hands frames over only when a block
 * fills or its 200 ms timeout ends; and the driver opens the configNETWORK_INTERFACE_TO_USE-th
 * entry of pcap_findalldevs(), so that list is cut down to $TCH_IF alone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "FreeRTOS.h"
#include "task.h"
#include "FreeRTOS_IP.h"
#include "FreeRTOS_Routing.h"

#include "tch_agent.h"

/* main.c's side of the glue (no shared header: the host build is these two files). */
const char *tch_host_interface(void);
void tch_host_fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void tch_host_report_ready(void);
/* ... and what main.c calls here. */
void tch_host_clock_start(void);
void tch_host_seed(uint64_t seed);

#define NS_PER_S       1000000000ull
#define NS_PER_TICK    (NS_PER_S / configTICK_RATE_HZ)
#define CATCH_UP_EVERY 10 /* ticks between checks of the tick count against the grid */

/* Monotonic time of tick 1 (the tick thread's first SIGALRM); 0 until the scheduler runs. */
static uint64_t tick_origin_ns;

static uint64_t mono_ns(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * NS_PER_S + (uint64_t)t.tv_nsec;
}

/* ---- clock: the tick thread's sleep ---- */

int __real_usleep(useconds_t usec);

int __wrap_usleep(useconds_t usec)
{
    /* Only the port's tick thread calls usleep, with one tick; anything else keeps usleep. */
    static __thread uint64_t next_ns;
    uint64_t now, origin;
    struct timespec until;

    if (usec != portTICK_RATE_MICROSECONDS) {
        return __real_usleep(usec);
    }
    now = mono_ns();
    if (next_ns == 0) {
        /* The first tick was signalled just before this call. */
        origin = 0;
        (void)__atomic_compare_exchange_n(&tick_origin_ns, &origin, now, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        next_ns = __atomic_load_n(&tick_origin_ns, __ATOMIC_SEQ_CST);
    }
    next_ns += NS_PER_TICK;
    if (next_ns <= now) {
        /* Late by a whole tick or more: rejoin the grid rather than signal in a burst (bursts of
         * SIGALRM merge anyway); the clock task adds the skipped ticks back. */
        origin = __atomic_load_n(&tick_origin_ns, __ATOMIC_SEQ_CST);
        next_ns = now - (now - origin) % NS_PER_TICK + NS_PER_TICK;
    }
    until.tv_sec = (time_t)(next_ns / NS_PER_S);
    until.tv_nsec = (long)(next_ns % NS_PER_S);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR) {
    }
    return 0;
}

/* ---- clock: lost ticks added back ---- */

/* Add the ticks the tick thread's signals lost. Task context only (xTaskCatchUpTicks suspends the
 * scheduler). */
static void tch_clock_catch_up(void)
{
    uint64_t origin = __atomic_load_n(&tick_origin_ns, __ATOMIC_SEQ_CST), due;
    TickType_t have;

    if (origin == 0) {
        return;
    }
    /* Grid slots that have certainly passed: the tick of the current slot may still be on its way,
     * so this never runs ahead of the wall clock. */
    due = (mono_ns() - origin) / NS_PER_TICK;
    have = xTaskGetTickCount();
    if (due > (uint64_t)have) {
        (void)xTaskCatchUpTicks((TickType_t)(due - (uint64_t)have));
    }
}

static void tch_clock_task(void *param)
{
    (void)param;
    for (;;) {
        vTaskDelay(CATCH_UP_EVERY);
        tch_clock_catch_up();
    }
}

void tch_host_clock_start(void)
{
    /* Above the IP task: a busy stack must not keep its own clock from catching up. */
    if (xTaskCreate(tch_clock_task, "tch_clock", configMINIMAL_STACK_SIZE, NULL, configMAX_PRIORITIES - 1, NULL)
        != pdPASS) {
        tch_host_fatal("no heap for the clock task");
    }
}

/* The port's idle task loops without blocking: one whole core. Sleeping here is safe because only
 * the tick (SIGALRM, which interrupts this sleep) makes a blocked task ready while idle runs: the
 * pcap threads never call FreeRTOS. */
void vApplicationIdleHook(void)
{
    struct timespec t = {0, (long)NS_PER_TICK};

    (void)nanosleep(&t, NULL);
}

/* ---- libpcap ---- */

int __real_pcap_activate(pcap_t *p);
int __real_pcap_findalldevs(pcap_if_t **all, char *errbuf);

int __wrap_pcap_activate(pcap_t *p)
{
    int r;

    if (pcap_set_immediate_mode(p, 1) != 0) {
        tch_host_fatal("pcap_set_immediate_mode on %s failed: %s", tch_host_interface(), pcap_geterr(p));
    }
    r = __real_pcap_activate(p);
    if (r < 0) {
        tch_host_fatal("pcap_activate on %s failed: %s (%s)", tch_host_interface(), pcap_statustostr(r),
                       pcap_geterr(p));
    }
    return r;
}

int __wrap_pcap_findalldevs(pcap_if_t **all, char *errbuf)
{
    pcap_if_t *list = NULL, **link, *mine = NULL;
    int r = __real_pcap_findalldevs(&list, errbuf);

    if (r != 0) {
        tch_host_fatal("pcap_findalldevs failed: %s", errbuf);
    }
    for (link = &list; *link != NULL; link = &(*link)->next) {
        if (strcmp((*link)->name, tch_host_interface()) == 0) {
            mine = *link;
            *link = mine->next;
            mine->next = NULL;
            break;
        }
    }
    if (list != NULL) {
        pcap_freealldevs(list);
    }
    if (mine == NULL) {
        tch_host_fatal("no interface named %s (libpcap does not list it)", tch_host_interface());
    }
    *all = mine;
    return 0;
}

/* ---- randomness: two deterministic streams from TCH_SEED ---- */

/* splitmix64: a counter stream, so each call is one atomic add (FreeRTOS tasks are threads here)
 * and the n-th value depends only on the seed and n. ISNs have their own stream, so how many other
 * random numbers the stack drew before (ports, ARP, IP ids) never changes them. */
static uint64_t random_state, isn_state;

static uint32_t splitmix(uint64_t *state)
{
    uint64_t z = __atomic_add_fetch(state, 0x9E3779B97F4A7C15ull, __ATOMIC_SEQ_CST);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (uint32_t)((z ^ (z >> 31)) >> 16);
}

void tch_host_seed(uint64_t seed)
{
    random_state = seed;
    isn_state = seed ^ 0x5ca1ab1e0ddba11ull;
}

BaseType_t xApplicationGetRandomNumber(uint32_t *pulNumber)
{
    *pulNumber = splitmix(&random_state);
    return pdTRUE;
}

uint32_t ulApplicationGetNextSequenceNumber(uint32_t ulSourceAddress, uint16_t usSourcePort,
                                            uint32_t ulDestinationAddress, uint16_t usDestinationPort)
{
    (void)ulSourceAddress;
    (void)usSourcePort;
    (void)ulDestinationAddress;
    (void)usDestinationPort;
    return splitmix(&isn_state);
}

/* ---- FreeRTOS+TCP and kernel hooks ---- */

static volatile int network_up_reported;

void vApplicationIPNetworkEventHook_Multi(eIPCallbackEvent_t eNetworkEvent, struct xNetworkEndPoint *pxEndPoint)
{
    (void)pxEndPoint;
    if (eNetworkEvent != eNetworkUp) {
        tch_log("tch: network down\n");
        return;
    }
    tch_log("tch: network up\n");
    if (!network_up_reported) {
        network_up_reported = 1;
        /* Bringing the interface up (pcap_activate's ring setup) cost ticks just now: the harness
         * starts timing from the ready line, so the clock is right before it is printed. */
        tch_clock_catch_up();
        tch_host_report_ready();
    }
}

/* A kernel or stack bug, not a setup problem: abort (SIGABRT, a core if enabled) after one line. */
void vAssertCalled(const char *file, unsigned long line)
{
    fprintf(stderr, "tch-freertos: configASSERT failed at %s:%lu\n", file, line);
    abort();
}

void vApplicationMallocFailedHook(void)
{
    fprintf(stderr, "tch-freertos: out of memory (heap_3 malloc returned NULL)\n");
    abort();
}
