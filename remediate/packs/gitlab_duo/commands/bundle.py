"""``remediate bundle``: one redacted archive of the situation on each host, for a support ticket."""

from __future__ import annotations

import io
import os
import tarfile
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from remediate.cli import plain
from remediate.cli.common import (
    complete_containers,
    connections,
    echo,
    errors,
    fail,
    host_options,
    ssh_options,
    verbosity_options,
)
from remediate.packs.gitlab_duo.commands.views import print_diagnosis

if TYPE_CHECKING:
    from remediate.packs.gitlab_duo.diagnose import DiagnosisJson

_DEFAULT_OUT = "remediate-bundle-{stamp}.tar.gz"


@click.command("bundle")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), metavar="FILE.tar.gz",
              help=f"Where to write the archive (default: {_DEFAULT_OUT} here); written 0600.")
@click.option("--lines", "log_lines", type=click.IntRange(min=1, max=100_000), default=200, show_default=True,
              help="Log lines kept of each AI gateway and vLLM container.")
@click.option("--correlation-id", metavar="ID",
              help="Keep only the log lines that hold this correlation id (from a Duo error).")
@click.option("--container", "containers", multiple=True, metavar="NAME", shell_complete=complete_containers,
              help="Only this container (repeatable); default: every AI gateway and vLLM container.")
@click.option("--gitlab-host", metavar="ssh://USER@HOST",
              help="Also run the GitLab host's own checks (gitlab:duo:verify_self_hosted_setup) over SSH.")
@host_options
@verbosity_options
def bundle(out_path: str | None, log_lines: int, correlation_id: str | None, containers: tuple[str, ...],
           gitlab_host: str | None, **where: Any) -> None:
    """Write one archive support can read: per host, the versions (remediate, engine, OS, images
    with tags and ids), the diagnosis (JSON and text), the redacted docker inspect and last log
    lines of the AI gateway and vLLM containers, and remediate's history there. Read-only;
    nothing leaves this machine; every secret is masked as in every other output."""
    from remediate.core.naming import file_safe
    from remediate.core.redaction import redact_text
    from remediate.packs.gitlab_duo import bundle as collecting
    from remediate.packs.gitlab_duo import diagnose as diagnosing

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_path = out_path or _DEFAULT_OUT.format(stamp=stamp)
    if not out_path.endswith((".tar.gz", ".tgz")):
        fail(f"--out {out_path}: the bundle is a .tar.gz archive")
    if os.path.islink(out_path):  # checked again when it is opened (never through a symlink)
        fail(f"--out {out_path}: is a symlink; name the file itself")
    members: list[tuple[str, str, bytes]] = []
    with errors():
        gitlab = None
        if gitlab_host:  # first: the container checks compare with what GitLab says
            from remediate.packs.gitlab_duo.gitlab_host import check_gitlab

            ssh = ssh_options(where["known_hosts"], where["accept_new_host_keys"], where["private_key"])
            gitlab_findings, gitlab = check_gitlab(gitlab_host, ssh)
            data = diagnosing.findings_json(gitlab_findings, host=gitlab_host)
            members.append(("gitlab/diagnose.json", "the GitLab host's own checks (gitlab:duo:verify_self_hosted_setup)",
                            collecting.redacted_json(data)))
        for conn in connections(**where):
            findings = diagnosing.diagnose(conn, containers=containers, gitlab=gitlab)
            data = diagnosing.findings_json(findings, host=conn.label)
            folder = file_safe(conn.label, fill="_", default="host")
            for member in collecting.collect(conn, findings, data, log_lines=log_lines, correlation_id=correlation_id):
                members.append((f"{folder}/{member.path}", member.about, member.content))
            members.append((f"{folder}/diagnose.txt", "remediate diagnose", redact_text(_text(data)).encode()))
    _write(out_path, stamp, members)
    echo(f"bundle written to {out_path} ({len(members)} files; secrets masked; review it before you send it)")


def _text(data: DiagnosisJson) -> str:
    buffer = io.StringIO()
    print_diagnosis(plain.console(file=buffer), data)
    return buffer.getvalue()


def _write(path: str, stamp: str, members: list[tuple[str, str, bytes]]) -> None:
    from remediate import __version__
    from remediate.packs.gitlab_duo.bundle import redacted_json

    manifest = {"format_version": "1.0", "kind": "remediate-bundle", "created": stamp, "remediate": __version__,
                "files": [{"path": name, "about": about, "bytes": len(content)} for name, about, content in members]}
    entries = [("manifest.json", redacted_json(manifest)),
               *((name, content) for name, _about, content in members)]
    from remediate.output.private import open_private

    try:
        fh = open_private(path)
    except OSError as exc:
        fail(f"--out {path}: {exc.strerror}")
    with fh, tarfile.open(fileobj=fh, mode="w:gz") as archive:
        for name, content in entries:
            info = tarfile.TarInfo(f"remediate-bundle-{stamp}/{name}")
            info.size, info.mode, info.mtime = len(content), 0o600, int(time.time())
            archive.addfile(info, io.BytesIO(content))
