"""The wire engine shared by every real-wire target (linux, lwip, later sam4e).

- `links`: the virtual links (netns + veth, tap) a target runs on, all named `tch…`, all
  torn down on exit, error, SIGTERM and Ctrl-C, and swept up after a killed run.
- `bpf`: the classic BPF program that keeps the capture socket to the test traffic.
- `engine`: one persistent AF_PACKET socket per link, kernel receive timestamps, ARP
  answered for the harness address.
- `agent`: the host side of the JSON-lines agent protocol (agent_protocol.md).
"""
