"""A recreated compose container's ``config-hash`` label, as Compose on the Docker host computes it.

Compose recreates a service's container when its ``com.docker.compose.config-hash`` label differs
from the hash of the service in the compose files. Once remediate has written the fixed compose
file, it asks the host's own Compose for that hash (``config --hash SERVICE``) and creates the new
container with it: a later ``compose up -d`` finds the service up to date (no second recreate).
Compose v1 and v2 hash differently, so only a Compose of the major version that made the
container is asked. The rest of the container is remediate's faithful recreate.
"""

from __future__ import annotations

from remediate.core import compose
from remediate.core.spec import ContainerSpec
from remediate.errors import RemediateError
from remediate.host.connection import Connection

#: Seconds one compose command may take on the host.
TIMEOUT = 60.0


def config_hash(conn: Connection, owner: compose.ComposeOwner) -> str | None:
    """The hash the host's Compose computes for ``owner``'s service from its files now, or
    ``None`` when no Compose of the right major version is installed there or it cannot tell."""
    for command in compose.compose_commands(owner):
        try:
            code, out = conn.run_command([*command, "version", "--short"], timeout=TIMEOUT)
            if code != 0 or not compose.same_major(owner, out):
                continue
            code, out = conn.run_command(compose.hash_argv(owner, command), cwd=owner.working_dir, timeout=TIMEOUT)
        except RemediateError:
            return None
        return compose.parse_hash(out, owner.service) if code == 0 else None
    return None


def up_check(conn: Connection, spec: ContainerSpec, compose_files: set[str]) -> str | None:
    """After a compose service was fixed (its file in ``compose_files`` written): what the host's
    Compose v2 says its next ``up -d`` would do (``--dry-run``), as one line; ``None`` when the
    container is no compose service's, nothing was written, or no Compose v2 can tell."""
    owner = compose.owner(spec.config.get("Labels") or {})
    if owner is None or owner.oneoff or not compose_files & set(owner.config_paths()):
        return None
    if owner.v1:
        return None
    command = ("docker", "compose")
    try:
        code, out = conn.run_command([*command, "version", "--short"], timeout=TIMEOUT)
        if code != 0 or not compose.same_major(owner, out):
            return None
        code, out = conn.run_command(compose.up_check_argv(owner, command), cwd=owner.working_dir, timeout=TIMEOUT,
                                     with_stderr=True)
    except RemediateError:
        return None
    if code != 0:
        return None
    changed = compose.would_change(out)
    if changed:
        return (f"compose (warning): `compose up -d` would still recreate {', '.join(changed)} (its `--dry-run` "
                "says so): the fix is in the file, but compose will recreate from it once")
    return f"compose: checked with `compose --dry-run up -d`: it leaves every container of {owner.project} as it is"


def with_config_hash(conn: Connection, spec: ContainerSpec, compose_files: set[str]) -> ContainerSpec:
    """``spec`` with the ``config-hash`` label compose now expects, when the container is a
    compose service's whose compose file this apply writes (in ``compose_files``); else ``spec``."""
    labels = spec.config.get("Labels") or {}
    owner = compose.owner(labels)
    if owner is None or owner.oneoff or not compose_files & set(owner.config_paths()):
        return spec
    value = config_hash(conn, owner)
    if value is None or labels.get(compose.CONFIG_HASH) == value:
        return spec
    return spec.replace(config={**spec.config, "Labels": {**labels, compose.CONFIG_HASH: value}})
