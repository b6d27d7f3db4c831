"""A pod's volumes on the node: directories the agent makes and fills, and the mounts of each container.

Every volume is a directory under the agent's root (kubelet's ``--root-dir``)::

    <root>/pods/<pod uid>/volumes/kubernetes.io~empty-dir/<volume>
                                  kubernetes.io~configmap/<volume>
                                  kubernetes.io~secret/<volume>
                                  kubernetes.io~downward-api/<volume>
                                  kubernetes.io~projected/<volume>

- ``emptyDir``: an empty directory, shared by the pod's containers, deleted with the pod. With
  ``medium: Memory`` the Docker runtime mounts a tmpfs volume of the pod instead (``sizeLimit``
  is its size; orchestrator/nodeagent/runtimes/docker.py); a disk ``sizeLimit`` is not enforced.
- ``persistentVolumeClaim``: the claim is read, then the PersistentVolume it is bound to (a claim
  not bound yet keeps the containers in ``ContainerCreating`` and the worker retries); the volume's
  ``csi.volumeHandle`` (driver ``local-path.labkit.io``, the only one the API server admits) names
  a directory under the node agent's *persistent volumes directory* (``<--root-dir>/persistentvolumes``,
  shared by the node agents of a lab, which run on one machine), made on first use and never
  removed by the agent: the data outlives every pod; the persistent-volume controller removes it
  when a volume with reclaim policy Delete is released (orchestrator/controllers/persistentvolume.py).
  ``readOnly`` of the claim source or of the mount makes the mount read-only.
- ``configMap``, ``secret``, ``downwardAPI``, ``projected`` (sources ``configMap``, ``secret``,
  ``downwardAPI``, ``serviceAccountToken``): files written with kubelet's atomic layout
  (orchestrator/nodeagent/atomicwriter.py), all keys or only ``items`` (``path``, ``mode``),
  ``defaultMode`` 0644, mounted read-only whatever the mount says (kubelet's
  ReadOnlyAPIDataVolumes). `refresh` writes them again — the pod worker calls it every
  ``volume_resync_seconds`` — so a changed ConfigMap or Secret reaches running containers;
  an object that disappeared later leaves the last content in place, as kubelet does.

A missing ConfigMap or Secret that is not ``optional`` fails the pod's start with kubelet's
words, ``MountVolume.SetUp failed for volume "config" : configmap "app" not found``; the
containers wait in ``ContainerCreating`` and the worker retries. A missing key listed in
``items`` is ``configmap references non-existent config key: k``.

Mounts: ``mountPath``, ``readOnly``, ``subPath`` or ``subPathExpr`` (``$(VAR)`` expanded with the
container's environment, e.g. ``logs/$(POD_NAME)``) — a path inside the volume: a directory of an
emptyDir is created when missing; a file of a configMap volume is bound as the file it resolves
to — a copy under ``volume-subpaths/`` taken at the container's start, so it does not see updates,
as in Kubernetes). ``hostPath`` and the other sources are
refused by the API server's validation before a pod gets here.

Kubernetes equivalent: pkg/kubelet/volumemanager, pkg/volume/emptydir, pkg/volume/csi, pkg/volume/configmap,
pkg/volume/secret, pkg/volume/downwardapi, pkg/volume/projected, pkg/kubelet/kubelet_pods.go (makeMounts)
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator.api.errors import ApiError
from orchestrator.api.quantity import memory_bytes
from orchestrator.nodeagent import atomicwriter
from orchestrator.nodeagent.apiobjects import ObjectSource
from orchestrator.nodeagent.atomicwriter import FileProjection
from orchestrator.nodeagent.downward import DownwardError, PodRuntimeFields, field_value, resource_value
from orchestrator.nodeagent.envvars import config_error, expand, fetch, not_found
from orchestrator.nodeagent.runtimes.base import ContainerStartFailed, Mount

log = logging.getLogger(__name__)

DEFAULT_MODE = 0o644
DEFAULT_TOKEN_SECONDS = 3600
PLUGINS = {"emptyDir": "empty-dir", "configMap": "configmap", "secret": "secret", "downwardAPI": "downward-api",
           "projected": "projected", "persistentVolumeClaim": "csi"}
LOCAL_PATH_DRIVER = "local-path.labkit.io"
API_DATA = ("configMap", "secret", "downwardAPI", "projected")


class VolumeSetupFailed(ContainerStartFailed):
    """A volume could not be set up: the containers wait in ``ContainerCreating``."""

    def __init__(self, message: str) -> None:
        super().__init__(message, waiting_reason="ContainerCreating")


def volume_source(volume: Mapping[str, Any]) -> str | None:
    return next((s for s in PLUGINS if volume.get(s) is not None), None)


class PodVolumes:
    """The volumes of one pod under `root` (see the module docstring)."""

    def __init__(self, pod: Mapping[str, Any], *, root: Path | None, source: ObjectSource | None,
                 persistent_volumes_dir: Path | None = None) -> None:
        self.pod = pod
        self.uid = str(pod["metadata"]["uid"])
        self.root = root
        self.pod_dir = (root or Path("/nonexistent")) / "pods" / self.uid
        self.source = source
        self.persistent_volumes_dir = persistent_volumes_dir
        self.claimed: dict[str, Path] = {}  # volume name -> the directory of its PersistentVolume
        self.prepared = False

    @property
    def volumes(self) -> list[Mapping[str, Any]]:
        return list((self.pod.get("spec") or {}).get("volumes") or [])

    def path_of(self, volume: Mapping[str, Any]) -> Path:
        if volume_source(volume) == "persistentVolumeClaim":
            return self.claimed.get(str(volume["name"]), Path("/nonexistent"))
        plugin = PLUGINS[volume_source(volume) or "emptyDir"]
        return self.pod_dir / "volumes" / f"kubernetes.io~{plugin}" / str(volume["name"])

    async def prepare(self, runtime: PodRuntimeFields) -> None:
        """Make every volume's directory and write the API-data ones; raises `VolumeSetupFailed`."""
        if self.root is None:
            raise VolumeSetupFailed("this node agent has no root directory for pod volumes (--root-dir)")
        for volume in self.volumes:
            kind = volume_source(volume)
            path = self.path_of(volume)
            if kind == "emptyDir":
                path.mkdir(parents=True, exist_ok=True)
                path.chmod(0o777)  # kubelet's emptyDir is world-writable: any runAsUser may write
            elif kind in API_DATA:
                await self._write(volume, runtime)
            elif kind == "persistentVolumeClaim":
                self.claimed[str(volume["name"])] = await self._claim_directory(volume)
        self.prepared = True

    async def _claim_directory(self, volume: Mapping[str, Any]) -> Path:
        """The directory of the PersistentVolume the volume's claim is bound to, made when missing."""
        claim_name = str((volume.get("persistentVolumeClaim") or {}).get("claimName") or "")
        namespace = str((self.pod.get("metadata") or {}).get("namespace") or "default")
        if self.source is None or self.persistent_volumes_dir is None:
            raise VolumeSetupFailed("this node agent has no directory for persistent volumes")
        try:
            claim = await self.source.persistent_volume_claim(namespace, claim_name)
        except ApiError as err:
            raise VolumeSetupFailed(f"error processing PVC {namespace}/{claim_name}: {err.message}") from None
        if claim is None:
            raise VolumeSetupFailed(f'persistentvolumeclaim "{claim_name}" not found')
        volume_name = (claim.get("spec") or {}).get("volumeName")
        if not volume_name or (claim.get("status") or {}).get("phase") != "Bound":
            raise VolumeSetupFailed(f"error processing PVC {namespace}/{claim_name}: PVC is not bound")
        try:
            pv = await self.source.persistent_volume(str(volume_name))
        except ApiError as err:
            raise VolumeSetupFailed(f"error processing PVC {namespace}/{claim_name}: {err.message}") from None
        if pv is None:
            raise VolumeSetupFailed(f'persistentvolume "{volume_name}" not found')
        csi = (pv.get("spec") or {}).get("csi") or {}
        handle = str(csi.get("volumeHandle") or "")
        if csi.get("driver") != LOCAL_PATH_DRIVER or not handle or "/" in handle or handle in (".", ".."):
            raise VolumeSetupFailed(f'MountVolume.SetUp failed for volume "{volume["name"]}" : persistentvolume '
                                    f'"{volume_name}" is not a {LOCAL_PATH_DRIVER} volume')
        path = self.persistent_volumes_dir / handle
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o777)  # as an emptyDir: whatever user the container runs as may write
        return path

    async def refresh(self, runtime: PodRuntimeFields) -> int:
        """Write the API-data volumes again; the number that changed. Failures keep the old content."""
        changed = 0
        for volume in self.volumes:
            if volume_source(volume) in API_DATA:
                try:
                    changed += await self._write(volume, runtime)
                except ContainerStartFailed as err:
                    log.info("pod %s: volume %s not refreshed: %s", self.uid, volume.get("name"), err.message)
        return changed

    def _snapshot(self, source: Path, name: str) -> Path:
        target = self.pod_dir / "volume-subpaths" / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target)
        return target

    def cleanup(self) -> None:
        shutil.rmtree(self.pod_dir, ignore_errors=True)

    async def _write(self, volume: Mapping[str, Any], runtime: PodRuntimeFields) -> bool:
        name = str(volume["name"])
        try:
            payload = await self._payload(volume, runtime)
        except ContainerStartFailed as err:
            raise VolumeSetupFailed(f'MountVolume.SetUp failed for volume "{name}" : {err.message}') from None
        return await asyncio.to_thread(atomicwriter.write, self.path_of(volume), payload)

    async def _payload(self, volume: Mapping[str, Any], runtime: PodRuntimeFields) -> dict[str, FileProjection]:
        kind = volume_source(volume)
        spec = volume[kind or ""] or {}
        mode = int(spec.get("defaultMode", DEFAULT_MODE))
        if kind in ("configMap", "secret"):
            return await self._object_files(kind, spec, mode)
        if kind == "downwardAPI":
            return self._downward_files(spec.get("items") or [], mode, runtime)
        out: dict[str, FileProjection] = {}
        for projection in spec.get("sources") or []:
            if projection.get("configMap") is not None:
                out.update(await self._object_files("configMap", projection["configMap"], mode))
            elif projection.get("secret") is not None:
                out.update(await self._object_files("secret", projection["secret"], mode))
            elif projection.get("downwardAPI") is not None:
                out.update(self._downward_files(projection["downwardAPI"].get("items") or [], mode, runtime))
            elif projection.get("serviceAccountToken") is not None:
                token_spec = projection["serviceAccountToken"]
                if self.source is None:
                    raise config_error("this node agent cannot request ServiceAccount tokens")
                try:
                    token = await self.source.token(self.pod, audience=token_spec.get("audience"),
                                                    expiration_seconds=int(token_spec.get("expirationSeconds")
                                                                           or DEFAULT_TOKEN_SECONDS))
                except ApiError as err:
                    raise config_error(f"failed to fetch token: {err.message}") from None
                out[str(token_spec.get("path") or "token")] = FileProjection(token.encode(), mode)
        return out

    async def _object_files(self, kind: str, spec: Mapping[str, Any], mode: int) -> dict[str, FileProjection]:
        name = str(spec.get("name") or spec.get("secretName") or "")
        namespace = str((self.pod.get("metadata") or {}).get("namespace") or "default")
        if self.source is None:
            raise config_error(f"this node agent cannot read {kind} objects")
        payload = await fetch(self.source, kind, namespace, name)
        if payload is None:
            if spec.get("optional"):
                return {}
            raise config_error(not_found(kind, name))
        items = spec.get("items")
        if not items:
            return {key: FileProjection(data, mode) for key, data in payload.items()}
        out = {}
        for item in items:
            key = str(item.get("key") or "")
            if key not in payload:
                if spec.get("optional"):
                    continue
                what = "configmap references non-existent config key" if kind == "configMap" else \
                    "references non-existent secret key"
                raise config_error(f"{what}: {key}")
            out[str(item.get("path") or key)] = FileProjection(payload[key], int(item.get("mode", mode)))
        return out

    def _downward_files(self, items: list[Mapping[str, Any]], mode: int,
                        runtime: PodRuntimeFields) -> dict[str, FileProjection]:
        out = {}
        containers = {c.get("name"): c for c in (self.pod.get("spec") or {}).get("containers") or []}
        for item in items:
            try:
                if item.get("fieldRef") is not None:
                    text = field_value(self.pod, str(item["fieldRef"].get("fieldPath") or ""), runtime)
                else:
                    ref = item.get("resourceFieldRef") or {}
                    text = resource_value(containers.get(ref.get("containerName")) or {}, str(ref.get("resource") or ""),
                                          ref.get("divisor"), runtime)
            except DownwardError as err:
                raise config_error(str(err)) from None
            out[str(item.get("path"))] = FileProjection(text.encode(), int(item.get("mode", mode)))
        return out

    def mounts(self, container: Mapping[str, Any], env: Mapping[str, str] | None = None) -> list[Mount]:
        """The container's `Mount`s; raises the ``CreateContainerConfigError`` start failure for a bad subPath.

        `env` is the container's resolved environment, which ``subPathExpr`` is expanded with."""
        by_name = {str(v["name"]): v for v in self.volumes}
        out = []
        for index, mount in enumerate(container.get("volumeMounts") or []):
            volume = by_name.get(str(mount.get("name")))
            if volume is None:
                raise config_error(f'cannot find volume "{mount.get("name")}" to mount into container '
                                   f'"{container.get("name")}"')
            kind = volume_source(volume)
            base = self.path_of(volume)
            api_data = kind in API_DATA
            read_only = (bool(mount.get("readOnly")) or api_data
                         or bool((volume.get("persistentVolumeClaim") or {}).get("readOnly")))
            memory = kind == "emptyDir" and (volume["emptyDir"] or {}).get("medium") == "Memory"
            size = (volume.get("emptyDir") or {}).get("sizeLimit")
            sub = str(mount.get("subPath") or "")
            if mount.get("subPathExpr"):
                sub = expand(str(mount["subPathExpr"]), env or {})
            host = base
            if sub:
                problem = atomicwriter.validate_path(sub)
                if problem is not None:
                    raise config_error(f"subPath {sub!r} {problem}")
                if memory:
                    raise config_error("subPath of a medium: Memory emptyDir is not supported by this node agent")
                host = base / sub
                if not api_data and not host.exists():
                    host.mkdir(parents=True, exist_ok=True)
                    host.chmod(0o777)
                resolved = Path(os.path.realpath(host))
                if not resolved.is_relative_to(base.resolve()):
                    raise config_error(f"subPath {sub!r} resolves outside the volume")
                if not resolved.exists():
                    raise config_error(f"subPath {sub!r} does not exist in volume {volume['name']!r}")
                host = resolved
                if api_data:
                    # Kubelet binds the resolved file, which keeps the old inode when an update
                    # swaps ..data; a copy taken at the start does the same on every runtime.
                    host = self._snapshot(resolved, f"{volume['name']}/{container.get('name')}/{index}")
            out.append(Mount(
                container_path=str(mount.get("mountPath")),
                host_path=str(host),
                read_only=read_only,
                memory_volume=f"k8s_{self.uid}_{volume['name']}" if memory else None,
                size_bytes=memory_bytes(str(size)) if memory and size is not None else None,
            ))
        return out

