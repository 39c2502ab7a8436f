"""TCP conformance harness: YAML cases, a target-agnostic runner, scores and reports."""

__version__ = "0.1.0"

# The harness's own end of the link: an address and MAC that exist only in the
# harness, so a host kernel on a real wire never answers the device's replies.
HARNESS_IP = "198.18.0.1"
HARNESS_MAC = "02:74:63:68:00:01"
