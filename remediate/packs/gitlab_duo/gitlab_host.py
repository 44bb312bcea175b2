"""Checks on the GitLab host over SSH (read-only): the Duo self-hosted setup Rake task, and the
self-hosted model endpoints, which must end in ``/v1``.

The Rake task prints one line per check ending in ``✔`` (pass), ``⚠`` (warning) or ``✗``
(failure), and ``rake aborted!`` followed by the reason when a required check fails.
"""

from __future__ import annotations

import urllib.parse

from remediate.errors import ConnectError
from remediate.host.connection import Connection
from remediate.host.sshoptions import SshOptions
from remediate.packs.gitlab_duo.checks import Finding

#: The Rake task that checks a Duo self-hosted setup, and the runner that lists the model endpoints.
RAKE = ["gitlab-rake", "gitlab:duo:verify_self_hosted_setup"]
ENDPOINTS = ["gitlab-rails", "runner", 'Ai::SelfHostedModel.all.each { |m| puts [m.name, m.endpoint].join("\\t") }']
_TIMEOUT = 300


def check_gitlab(url: str, options: SshOptions) -> list[Finding]:
    """Run the GitLab host's own checks over SSH and read its model endpoints.

    Args:
        url: ``ssh://[user@]gitlab-host[:port]``.
        options: host keys and credentials.

    Raises:
        ConnectError: the host cannot be reached (one-line reason).
    """
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme != "ssh" or not parsed.hostname:
        raise ConnectError(f"--gitlab-host {url}: expected ssh://user@host:port")
    label = f"gitlab {parsed.hostname}"
    with Connection(url, ssh=options, label=label) as conn:
        rake = conn.run_command(RAKE, timeout=_TIMEOUT, with_stderr=True)
        endpoints = conn.run_command(ENDPOINTS, timeout=_TIMEOUT, with_stderr=True)
    return rake_findings(label, *rake) + endpoint_findings(label, *endpoints)


def rake_findings(host: str, exit_code: int, output: str) -> list[Finding]:
    """Findings from the output of the Rake task."""
    findings = []
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in lines:
        text = line.lstrip(">").strip()
        if text.endswith("✔"):
            findings.append(Finding(host, "gitlab-rake", "pass", text.rstrip("✔ "), kind="gitlab"))
        elif text.endswith("⚠"):
            findings.append(Finding(host, "gitlab-rake", "warn", text.rstrip("⚠ "), kind="gitlab"))
        elif text.endswith("✗"):
            findings.append(Finding(host, "gitlab-rake", "fail", text.rstrip("✗ "), kind="gitlab"))
    if "rake aborted!" in output:
        after = lines[lines.index("rake aborted!") + 1:] if "rake aborted!" in lines else []
        findings.append(Finding(host, "gitlab-rake", "fail", after[0] if after else "rake aborted!", kind="gitlab"))
    elif exit_code == 127:
        findings.append(Finding(host, "gitlab-rake", "warn", "gitlab-rake not found on this host", kind="gitlab"))
    elif exit_code != 0 and not any(f.status == "fail" for f in findings):
        findings.append(Finding(host, "gitlab-rake", "fail", f"exited {exit_code}: {lines[-1] if lines else ''}",
                                kind="gitlab"))
    return findings


def endpoint_findings(host: str, exit_code: int, output: str) -> list[Finding]:
    """Findings for each self-hosted model endpoint: OpenAI-compatible ones must end in ``/v1``."""
    if exit_code != 0:
        return [Finding(host, "model-endpoint", "warn", f"could not list the self-hosted models (exit {exit_code})",
                        kind="gitlab")]
    findings = []
    for line in output.splitlines():
        name, sep, endpoint = line.strip().partition("\t")
        if not sep:
            continue
        if endpoint.rstrip("/").endswith("/v1"):
            findings.append(Finding(host, "model-endpoint", "pass", f"{name}: {endpoint}", kind="gitlab"))
        else:
            findings.append(Finding(host, "model-endpoint", "fail",
                                    f"{name}: {endpoint} must end in /v1 (set it in Admin > GitLab Duo > "
                                    "Self-hosted models)", kind="gitlab"))
    return findings
