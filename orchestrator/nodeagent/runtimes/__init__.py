"""Container runtimes for the node agent: the `Runtime` contract (base.py), Docker, and a simulation.

Import the implementations from their modules (`runtimes.docker.DockerRuntime`,
`runtimes.simulated.SimulatedRuntime`): the Docker one needs the `docker` SDK, the simulated one
nothing beyond the standard library.
"""
