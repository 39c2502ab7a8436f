"""A sans-IO TCP/IPv4 stack with FreeRTOS+TCP V4.4.1 semantics (see README.md)."""

from .calls import Call, Event
from .config import StackConfig
from .faults import FAULT_SEMANTICS, Faults
from .stack import Stack

__all__ = ["Call", "Event", "FAULT_SEMANTICS", "Faults", "Stack", "StackConfig"]
