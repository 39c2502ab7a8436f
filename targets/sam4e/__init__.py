"""The sam4e target: FreeRTOS+TCP firmware on a SAM4E Xplained Pro, driven over SWD with pyOCD.

- firmware/: the agent the user links into their firmware (C; PROTOCOL.md is the mailbox contract);
- mailbox.py: the mailbox layout in Python; build.py: the host library and the Cortex-M4 cross-build;
- adapter.py (pyOCD session, flash, GPNVM1, reset, RTT), driver.py (the host's mailbox rules),
  rtt.py (log streaming), config.py (the target file's `board:` section), target.py (the Target);
- emulation/: an emulated board and debug probe, so all of it runs through real pyOCD without one.
"""
