"""Load: mixed API verbs at a fixed (open-loop) rate; p50/p99 latency and errors per verb."""
