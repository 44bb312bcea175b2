"""GPUs: the ``gpus`` change kind as ``HostConfig.DeviceRequests``, exactly as ``docker run --gpus``
builds them, and whether an engine can start a container that requests GPUs. Pure.

``docker run --gpus all`` sends ``{"Driver": "", "Count": -1, "Capabilities": [["gpu"]]}``; ``--gpus 2``
a count of 2; ``--gpus '"device=0,1",capabilities=compute'`` device ids (count 0) and the
capabilities given with ``gpu`` appended. A container's other device requests (those that ask no
``gpu`` capability) are kept by a ``gpus`` change; ``none`` removes the GPU ones.

An engine starts such a container only with a GPU runtime: the NVIDIA Container Toolkit (an
``nvidia`` runtime in ``docker info``) or CDI devices. Without one the start fails with
``could not select device driver "" with capabilities: [[gpu]]`` (the most common vLLM failure);
:func:`missing_runtime` says so before anything stops.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from remediate.core import playbook as pb
from remediate.core.fields import gpus_value
from remediate.core.spec import ContainerSpec

Json = dict[str, Any]


def device_request(wanted: pb.GpuRequest | str | int) -> Json:
    """The device request ``docker run --gpus`` sends for a ``gpus`` change (not ``none``).

    >>> device_request("all")
    {'Driver': '', 'Count': -1, 'DeviceIDs': None, 'Capabilities': [['gpu']], 'Options': {}}
    """
    request = wanted if isinstance(wanted, pb.GpuRequest) else pb.GpuRequest.model_validate({"count": wanted})
    count = request.count
    if count is None:
        number = 0 if request.device_ids else 1
    else:
        number = -1 if count == "all" else int(count)
    return {"Driver": request.driver or "", "Count": number, "DeviceIDs": list(request.device_ids or []) or None,
            "Capabilities": [[*(c for c in request.capabilities if c != "gpu"), "gpu"]],
            "Options": dict(request.options)}


def is_gpu_request(request: Mapping[str, Any]) -> bool:
    """True for a device request that asks for GPUs (a ``gpu`` capability, or the nvidia driver)."""
    caps = request.get("Capabilities") or []
    return request.get("Driver") == "nvidia" or any("gpu" in (group or []) for group in caps)


def gpu_requests(spec: ContainerSpec) -> list[Json]:
    """The spec's GPU device requests."""
    return [dict(r) for r in spec.host_config.get("DeviceRequests") or [] if is_gpu_request(r)]


def shown(requests: list[Json]) -> str | None:
    """Requests as ``--gpus`` values (``all``, ``2``, ``"device=0,1"``), None for no request."""
    if not requests:
        return None
    return " ".join(gpus_value(r) or f"{r}" for r in requests)


def with_gpus(spec: ContainerSpec, wanted: pb.GpuRequest | str | int) -> ContainerSpec:
    """``spec`` with its GPU requests replaced by ``wanted`` (``none``: removed); other device
    requests stay, in their place."""
    others = [dict(r) for r in spec.host_config.get("DeviceRequests") or [] if not is_gpu_request(r)]
    requests = others if wanted == "none" else [*others, device_request(wanted)]
    host_config = dict(spec.host_config)
    if requests:
        host_config["DeviceRequests"] = requests
    else:
        host_config.pop("DeviceRequests", None)
    return spec.replace(host_config=host_config)


def needs_gpu(spec: ContainerSpec) -> bool:
    """True when starting the spec needs a GPU runtime (a GPU request, or the nvidia runtime)."""
    return bool(gpu_requests(spec)) or "nvidia" in str(spec.host_config.get("Runtime") or "")


def missing_runtime(info: Mapping[str, Any], name: str) -> str | None:
    """Why the engine (its ``docker info``) cannot start container ``name``'s GPU request, or None
    when it has a GPU runtime: an ``nvidia`` runtime, or CDI devices (listed from API 1.50; before
    that CDI spec directories mean they may be there)."""
    if any("nvidia" in str(runtime) for runtime in info.get("Runtimes") or {}):
        return None
    devices = info.get("DiscoveredDevices")
    if devices:
        return None
    if devices is None and info.get("CDISpecDirs"):
        return None
    return (f"gpus: the engine has no GPU runtime (docker info lists no nvidia runtime and no CDI devices), so "
            f"{name} would not start (could not select device driver \"\" with capabilities: [[gpu]]); install "
            "the NVIDIA Container Toolkit and run `nvidia-ctk runtime configure --runtime=docker`, then restart "
            "dockerd")
