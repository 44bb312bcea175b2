"""The vLLM serving profile GitLab Duo needs today. Reads only.

==============  ================================================================================
check           detection
==============  ================================================================================
vllm-version    ``GET /version`` (or the image tag ``vX.Y.Z`` when it does not run) is at least
                :data:`VERSION_FLOOR`, which GitLab's docs require
tool-calling    ``--enable-auto-tool-choice`` and ``--tool-call-parser`` in the command, or one
                chat request with a tool and ``tool_choice: "auto"`` is not refused with 400
                ``"auto" tool choice requires ...`` (agentic Chat and the Agent Platform call tools)
max-model-len   ``max_model_len`` in ``GET /v1/models`` (else ``--max-model-len``) is at least
                :data:`CONTEXT_NEED` tokens (below it Duo Chat answers A1005)
gpu-runtime     a container that asks for GPUs (``--gpus``) and does not run, on an engine with
                no ``nvidia`` runtime: ``could not select device driver "" with capabilities:
                [[gpu]]``, and no recreate can start it either
==============  ================================================================================
"""

from __future__ import annotations

import json
import re
from typing import Any

from remediate.core.planner import ContainerFacts, Observed, facts_of
from remediate.errors import RemediateError
from remediate.packs.gitlab_duo.checks import (
    Context,
    Finding,
    Kind,
    Reply,
    Status,
    http,
    is_up,
    model_names,
    port_value,
)

__all__ = ["CONTEXT_NEED", "VERSION_FLOOR", "vllm_profile_checks"]

_KIND: Kind = "vllm"
#: The oldest vLLM GitLab's docs support (self-hosted models and the offline Agent Platform).
VERSION_FLOOR = (0, 18, 1)
#: The context the troubleshooting guide starts vLLM with (``--max-model-len 17776``).
CONTEXT_NEED = 17776
TOOL_CHOICE_REFUSED = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser'
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def vllm_profile_checks(ctx: Context, obs: Observed) -> list[Finding]:
    """The checks of the module docstring for one vLLM container (requests to ``/v1`` carry the
    container's own API key, as GitLab's must)."""
    facts = facts_of(obs)
    port = port_value(facts.flag("--port", 8000), 8000)
    up = is_up(ctx, obs)
    key = facts.flag("--api-key") or facts.env.get("VLLM_API_KEY")
    auth = {"Authorization": f"Bearer {key}"} if isinstance(key, str) and key else {}
    models = http(ctx, obs, port, "GET", "/v1/models", headers=auth) if up else None
    names = model_names(models) if models is not None else None
    model = ctx.model_name if not names or ctx.model_name in names else names[0]
    return [_version(ctx, obs, facts, port, up), _tool_calling(ctx, obs, facts, port, up, auth, model),
            _max_model_len(obs, facts, models), _gpu_runtime(ctx, obs, up)]


def _finding(obs: Observed, check: str, status: Status, evidence: str, fix: str | None = None) -> Finding:
    return Finding(obs.name, check, status, evidence, fix, _KIND)


def _parse(version: str) -> tuple[int, int, int] | None:
    match = _VERSION.match(version.strip())
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def _version(ctx: Context, obs: Observed, facts: ContainerFacts, port: int, up: bool) -> Finding:
    floor = ".".join(map(str, VERSION_FLOOR))
    found, source = None, ""
    if up:
        reply = http(ctx, obs, port, "GET", "/version")
        try:
            found = str(json.loads(reply.body).get("version")) if reply.status == 200 else None
        except (ValueError, AttributeError):
            found = None
        source = "GET /version"
    if found is None:
        tail = facts.image.rsplit("/", 1)[-1].partition("@")[0]
        found = tail.rpartition(":")[2] if ":" in tail else None
        source = f"image tag of {facts.image}"
    parsed = _parse(found or "")
    if parsed is None:
        return _finding(obs, "vllm-version", "warn", f"not checked: no version in the {source}")
    if parsed < VERSION_FLOOR:
        return _finding(obs, "vllm-version", "fail", f"vLLM {found} ({source}) is older than v{floor}, the oldest "
                        f"GitLab's docs support; upgrade-vllm -e tag=v{floor} (or later) recreates it on that tag, "
                        "every flag kept", "upgrade-vllm")
    return _finding(obs, "vllm-version", "pass", f"vLLM {found} ({source}) >= v{floor}")


def _tool_calling(ctx: Context, obs: Observed, facts: ContainerFacts, port: int, up: bool, auth: dict[str, str],
                  model: str) -> Finding:
    # A bare flag, in either spelling vLLM accepts (--enable_auto_tool_choice too).
    auto = any(arg.replace("_", "-") == "--enable-auto-tool-choice" for arg in facts.command)
    parser = facts.flag("--tool-call-parser")
    if auto and parser:
        return _finding(obs, "tool-calling", "pass", f"--enable-auto-tool-choice --tool-call-parser {parser}")
    if not up:
        return _finding(obs, "tool-calling", "warn", "not checked: the container is not running steadily")
    reply = http(ctx, obs, port, "POST", "/v1/chat/completions", headers=auth, body={
        "model": model, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 1, "tool_choice": "auto",
        "tools": [{"type": "function", "function": {"name": "ping", "description": "Answer pong.",
                                                     "parameters": {"type": "object", "properties": {}}}}]})
    if reply.status == 400 and "tool choice requires" in reply.body:
        # vLLM's message, as its log shows it (the body escapes its quotes as JSON does).
        return _finding(obs, "tool-calling", "fail", f"{reply.where}: 400 {TOOL_CHOICE_REFUSED} to be set: agentic "
                        "Duo Chat and the Agent Platform call tools; start vLLM with --enable-auto-tool-choice and "
                        "the --tool-call-parser of the model family", "enable-vllm-tool-calling")
    if reply.status == 200:
        return _finding(obs, "tool-calling", "pass", f"{reply.where}: 200 (a request with tools is served)")
    return _finding(obs, "tool-calling", "warn", f"not checked: {reply.shown()}")


def _max_model_len(obs: Observed, facts: ContainerFacts, models: Reply | None) -> Finding:
    length, source = _served_length(models), "GET /v1/models"
    if length is None:
        flag = facts.flag("--max-model-len")
        length, source = (int(flag), "--max-model-len") if str(flag or "").isdigit() else (None, "")
    if length is None:
        why = models.shown() if models is not None else "the container is not running steadily"
        return _finding(obs, "max-model-len", "warn", f"not checked: {why}")
    if length < CONTEXT_NEED:
        return _finding(obs, "max-model-len", "fail", f"max_model_len {length} ({source}) is below {CONTEXT_NEED} "
                        "tokens: longer Duo Chat conversations fail with A1005 (\"This model's maximum context "
                        "length is ...\")", "set-vllm-max-model-len")
    return _finding(obs, "max-model-len", "pass", f"max_model_len {length} ({source}) >= {CONTEXT_NEED}")


def _served_length(models: Reply | None) -> int | None:
    if models is None or models.status != 200:
        return None
    try:
        entries: Any = json.loads(models.body).get("data")
    except (ValueError, AttributeError):
        return None
    lengths = [e.get("max_model_len") for e in entries or [] if isinstance(e, dict)]
    numbers = [n for n in lengths if isinstance(n, int)]
    return min(numbers) if numbers else None


def _gpu_runtime(ctx: Context, obs: Observed, up: bool) -> Finding:
    host_config = obs.inspect.get("HostConfig") or {}
    wants = [r for r in host_config.get("DeviceRequests") or []
             if any("gpu" in caps for caps in r.get("Capabilities") or []) or r.get("Driver") == "nvidia"]
    if not wants and host_config.get("Runtime") != "nvidia":
        return _finding(obs, "gpu-runtime", "pass", "asks for no GPU (--gpus)")
    if up:
        return _finding(obs, "gpu-runtime", "pass", "asks for GPUs and runs with them")
    try:
        runtimes = sorted(ctx.conn.info().get("Runtimes") or {})
    except RemediateError as exc:
        return _finding(obs, "gpu-runtime", "warn", f"not checked: {exc.message}")
    if "nvidia" in runtimes:
        return _finding(obs, "gpu-runtime", "pass", f"asks for GPUs; the engine has the nvidia runtime ({', '.join(runtimes)})")
    return _finding(obs, "gpu-runtime", "fail", "asks for GPUs (--gpus) but the engine has no nvidia runtime "
                    f"({', '.join(runtimes) or 'none'}): 'could not select device driver \"\" with "
                    "capabilities: [[gpu]]', and a recreate cannot start it either; by hand: install the NVIDIA "
                    "Container Toolkit on the Docker host (nvidia-ctk runtime configure --runtime=docker) and "
                    "restart Docker")
