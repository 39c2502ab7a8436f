"""The real FreeRTOS+TCP and FreeRTOS-Kernel (POSIX port) built for the host, running the harness agent."""
