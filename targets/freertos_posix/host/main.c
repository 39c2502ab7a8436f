/*
 * The host "board": FreeRTOS+TCP on the FreeRTOS POSIX port, on one Linux interface through the
 * libpcap NetworkInterface, running the harness agent (targets/sam4e/firmware) unchanged.
 *
 * Environment: TCH_IF (interface), TCH_IP, TCH_MAC (aa:bb:cc:dd:ee:ff), TCH_NETMASK (default
 * 255.255.255.0), TCH_GW (default 198.18.0.1), TCH_SEED (decimal; seeds the random numbers and ISNs,
 * default: from the clock).
 *
 * stdout: one line `ready mailbox=0x... rtt=0x... ticks_per_s=1000` once the network is up and the
 * agent runs (the NetworkInterface prints its interface list before it). A setup error is one line
 * on stderr and exit status 2.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <net/if.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "FreeRTOS.h"
#include "task.h"
#include "FreeRTOS_IP.h"
#include "FreeRTOS_Routing.h"

#include "tch_agent.h"
#include "tch_rtt.h"

/* glue.c */
void tch_host_clock_start(void);
void tch_host_seed(uint64_t seed);
/* called from glue.c */
const char *tch_host_interface(void);
void tch_host_fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void tch_host_report_ready(void);

/* The libpcap NetworkInterface's descriptor filler (it has no header of its own). */
NetworkInterface_t *pxLinux_FillInterfaceDescriptor(BaseType_t xEMACIndex, NetworkInterface_t *pxInterface);

static const char *interface_name = "";
static NetworkInterface_t interface;
static NetworkEndPoint_t endpoint;

const char *tch_host_interface(void)
{
    return interface_name;
}

void tch_host_fatal(const char *fmt, ...)
{
    va_list ap;

    fputs("tch-freertos: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    _exit(2); /* not exit(): other threads are mid-flight, atexit handlers must not run under them */
}

void tch_host_report_ready(void)
{
    /* Signals (the tick) are blocked in the critical section: no task switch while this thread holds
     * stdout's lock. */
    taskENTER_CRITICAL();
    printf("ready mailbox=0x%lx rtt=0x%lx ticks_per_s=%u\n", (unsigned long)(uintptr_t)&tch_mailbox,
           (unsigned long)(uintptr_t)&_SEGGER_RTT, (unsigned)configTICK_RATE_HZ);
    fflush(stdout);
    taskEXIT_CRITICAL();
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *value = getenv(name);

    if (value == NULL || value[0] == '\0') {
        if (fallback == NULL) {
            tch_host_fatal("%s is not set", name);
        }
        return fallback;
    }
    return value;
}

static void ipv4_from_env(const char *name, const char *fallback, uint8_t out[4])
{
    const char *text = env_or(name, fallback);
    struct in_addr a;

    if (inet_pton(AF_INET, text, &a) != 1) {
        tch_host_fatal("%s=%s is not an IPv4 address", name, text);
    }
    memcpy(out, &a, 4);
}

static void mac_from_env(const char *name, uint8_t out[6])
{
    const char *text = env_or(name, NULL);
    unsigned v[6];
    char extra;
    int i;

    if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &extra) != 6) {
        tch_host_fatal("%s=%s is not a MAC address (aa:bb:cc:dd:ee:ff)", name, text);
    }
    for (i = 0; i < 6; i++) {
        out[i] = (uint8_t)v[i];
    }
}

static uint64_t seed_from_env(void)
{
    const char *text = getenv("TCH_SEED");
    struct timespec t;
    char *end;
    unsigned long long seed;

    if (text == NULL || text[0] == '\0') {
        clock_gettime(CLOCK_REALTIME, &t);
        return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec + (uint64_t)getpid();
    }
    seed = strtoull(text, &end, 10);
    if (*end != '\0') {
        tch_host_fatal("TCH_SEED=%s is not a decimal number", text);
    }
    return (uint64_t)seed;
}

int main(void)
{
    uint8_t ip[4], netmask[4], gateway[4], mac[6];
    static const uint8_t no_dns[4] = {0, 0, 0, 0};

    /* Never outlive the harness that started us (a SIGKILLed harness runs no cleanup). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() == 1) {
        tch_host_fatal("no parent process to live under");
    }
    /* 1 ns of timer slack instead of 50 us: threads created from here inherit it (the tick thread). */
    (void)prctl(PR_SET_TIMERSLACK, 1UL);
    setvbuf(stdout, NULL, _IOLBF, 0);

    interface_name = env_or("TCH_IF", NULL);
    if (if_nametoindex(interface_name) == 0) {
        tch_host_fatal("no interface named %s", interface_name);
    }
    ipv4_from_env("TCH_IP", NULL, ip);
    ipv4_from_env("TCH_NETMASK", "255.255.255.0", netmask);
    ipv4_from_env("TCH_GW", "198.18.0.1", gateway);
    mac_from_env("TCH_MAC", mac);
    tch_host_seed(seed_from_env());

    (void)pxLinux_FillInterfaceDescriptor(0, &interface);
    FreeRTOS_FillEndPoint(&interface, &endpoint, ip, netmask, gateway, no_dns, mac);
    if (FreeRTOS_IPInit_Multi() != pdPASS) {
        tch_host_fatal("FreeRTOS_IPInit_Multi failed (no heap for the IP task or its queue)");
    }
    /* Below the IP task (ipconfigIP_TASK_PRIORITY), as the agent README asks. */
    tch_agent_start(tskIDLE_PRIORITY + 1);
    tch_host_clock_start();
    vTaskStartScheduler();
    tch_host_fatal("vTaskStartScheduler returned");
}
