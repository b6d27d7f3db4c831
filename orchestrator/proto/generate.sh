#!/bin/sh
# Regenerate the Python code for every .proto in orchestrator/proto (run from anywhere).
# Paths are given relative to the repository root so the generated imports read
# `from orchestrator.proto import scheduler_pb2`.
set -eu
cd "$(dirname "$0")/../.."
PY="${PYTHON:-.venv/bin/python}"
"$PY" -m grpc_tools.protoc -I. --python_out=. --pyi_out=. --grpc_python_out=. orchestrator/proto/*.proto
