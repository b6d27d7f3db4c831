"""CPU rate from two counter samples, and a sample from the Docker engine's one-shot stats JSON."""

from __future__ import annotations

from orchestrator.nodeagent.runtimes.usage import UsageSample, docker_sample, usage_nano_cores


def sample(at: float, cpu_ns: int, memory: int = 0) -> UsageSample:
    return UsageSample(timestamp=at, cpu_usage_core_nanoseconds=cpu_ns, memory_working_set_bytes=memory,
                       memory_usage_bytes=memory)


def test_the_rate_is_the_counter_delta_over_the_time_delta() -> None:
    # 250 ms of CPU in one second: a quarter of a core.
    assert usage_nano_cores(sample(10.0, 1_200_000_000), sample(11.0, 1_450_000_000)) == 250_000_000
    # Two cores busy for half a second.
    assert usage_nano_cores(sample(0.0, 0), sample(0.5, 1_000_000_000)) == 2_000_000_000


def test_no_rate_from_one_sample_a_zero_interval_or_a_counter_that_went_back() -> None:
    assert usage_nano_cores(None, sample(1.0, 5)) is None
    assert usage_nano_cores(sample(1.0, 5), sample(1.0, 9)) is None
    assert usage_nano_cores(sample(1.0, 9), sample(2.0, 5)) is None


# What `GET /containers/<id>/stats?stream=false&one-shot=true` answers (trimmed), cgroup v1 and v2.
CGROUP_V1 = {"read": "2026-12-06T17:00:00.5Z",
             "cpu_stats": {"cpu_usage": {"total_usage": 123_456_789}, "online_cpus": 2},
             "precpu_stats": {"cpu_usage": {"total_usage": 0}},
             "memory_stats": {"usage": 10_000_000, "limit": 2**33, "stats": {"total_inactive_file": 4_000_000}}}
CGROUP_V2 = {"read": "2026-12-06T17:00:00.5Z",
             "cpu_stats": {"cpu_usage": {"total_usage": 5_000}},
             "memory_stats": {"usage": 8192, "stats": {"inactive_file": 12_288}}}
STOPPED = {"read": "0001-01-01T00:00:00Z", "cpu_stats": {"cpu_usage": {"total_usage": 0}}, "memory_stats": {}}


def test_the_working_set_is_usage_minus_inactive_file_cache() -> None:
    got = docker_sample(CGROUP_V1, now=100.0)
    assert got == UsageSample(timestamp=100.0, cpu_usage_core_nanoseconds=123_456_789,
                              memory_working_set_bytes=6_000_000, memory_usage_bytes=10_000_000)
    v2 = docker_sample(CGROUP_V2, now=1.0)
    assert v2 is not None and v2.memory_working_set_bytes == 0  # never below zero


def test_a_container_that_is_not_running_gives_no_sample() -> None:
    assert docker_sample(STOPPED) is None
