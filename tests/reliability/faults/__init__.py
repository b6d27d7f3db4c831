"""Faults under load: kill -9 every component in turn while a workload writes and watches, then
check by code that nothing acknowledged was lost and every watch history is exact."""
