"""Checks on the GitLab host over SSH (read-only): the Duo self-hosted setup Rake task; one
``gitlab-rails runner`` that reads GitLab's version, the Agent Platform service URL (``host:port``,
no scheme) and its TLS setting, the AI Gateway request timeout and the self-hosted model endpoints
(which must end in ``/v1``). The version and the TLS setting are handed to the container checks
(:class:`~remediate.packs.gitlab_duo.checks.GitLabFacts`).

The Rake task prints one line per check ending in ``✔`` (pass), ``⚠`` (warning) or ``✗``
(failure), and ``rake aborted!`` followed by the reason when a required check fails.
"""

from __future__ import annotations

import urllib.parse

from remediate.errors import ConnectError
from remediate.host.connection import Connection
from remediate.host.sshoptions import SshOptions
from remediate.packs.gitlab_duo.checks import Finding, GitLabFacts

#: The Rake task that checks a Duo self-hosted setup.
RAKE = ["gitlab-rake", "gitlab:duo:verify_self_hosted_setup"]
#: Prints tab-separated lines: ``version``, ``dap_url``, ``dap_secure``, ``ai_gateway_timeout`` and
#: one ``model NAME ENDPOINT`` per self-hosted model. The settings moved between ``Ai::Setting``
#: and the application settings across versions: both are asked, whichever has it.
FACTS = ["gitlab-rails", "runner", """\
settings = [(::Ai::Setting.instance rescue nil), (::Gitlab::CurrentSettings.current_application_settings rescue nil)]
pick = ->(name) { settings.compact.map { |o| o.respond_to?(name) ? o.public_send(name) : nil }.compact.first }
secure = pick.(:self_hosted_duo_agent_platform_service_secure)
secure = ENV['DUO_AGENT_PLATFORM_SERVICE_SECURE'].to_s.downcase != 'false' if secure.nil?
puts ['version', Gitlab::VERSION].join("\t")
puts ['dap_url', pick.(:duo_agent_platform_service_url)].join("\t")
puts ['dap_secure', secure].join("\t")
puts ['ai_gateway_timeout', pick.(:ai_gateway_timeout_seconds)].join("\t")
Ai::SelfHostedModel.all.each { |m| puts ['model', m.name, m.endpoint].join("\t") }
"""]
_TIMEOUT = 300


def check_gitlab(url: str, options: SshOptions) -> tuple[list[Finding], GitLabFacts]:
    """Run the GitLab host's own checks over SSH and read its settings and model endpoints.

    Returns:
        The findings, and what the container checks compare with.

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
        code, output = conn.run_command(FACTS, timeout=_TIMEOUT)
    facts = gitlab_facts(output if code == 0 else "")
    return rake_findings(label, *rake) + settings_findings(label, code, output) + endpoint_findings(
        label, code, output), facts


def _rows(output: str) -> list[list[str]]:
    return [line.rstrip("\r").split("\t") for line in output.splitlines() if "\t" in line]


def gitlab_facts(output: str) -> GitLabFacts:
    """The :class:`GitLabFacts` in the runner's output (unknown ones None)."""
    values = {row[0]: row[1].strip() for row in _rows(output) if len(row) == 2}
    secure = values.get("dap_secure", "").lower()
    return GitLabFacts(version=values.get("version") or None, agent_platform_url=values.get("dap_url") or None,
                       agent_platform_secure={"true": True, "false": False}.get(secure))


def settings_findings(host: str, exit_code: int, output: str) -> list[Finding]:
    """``agent-platform-url`` (``host:port``, never a URL with a scheme) and ``ai-gateway-timeout``."""
    if exit_code != 0:
        return []
    values = {row[0]: row[1].strip() for row in _rows(output) if len(row) == 2}
    findings = []
    url = values.get("dap_url")
    if url is not None:
        if "://" in url:
            findings.append(Finding(host, "agent-platform-url", "fail", f"the Agent Platform service URL {url} has "
                                    "a scheme: it must be host:port (e.g. aigw.example.com:50052); by hand: Admin > "
                                    "GitLab Duo > Change configuration", kind="gitlab"))
        elif url:
            tls = {"true": "with TLS", "false": "without TLS"}.get(values.get("dap_secure", "").lower(), "")
            findings.append(Finding(host, "agent-platform-url", "pass", f"Agent Platform service URL {url} {tls}".strip(),
                                    kind="gitlab"))
        else:
            findings.append(Finding(host, "agent-platform-url", "pass", "no self-hosted Agent Platform service URL "
                                    "is set", kind="gitlab"))
    timeout = values.get("ai_gateway_timeout")
    if timeout:
        findings.append(Finding(host, "ai-gateway-timeout", "pass", f"AI Gateway request timeout {timeout} s (60 to "
                                "600; raise it when Duo Chat answers A1000 with a slow model)", kind="gitlab"))
    return findings


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
    for row in _rows(output):
        if row[0] != "model" or len(row) != 3:
            continue
        name, endpoint = row[1], row[2].strip()
        if endpoint.rstrip("/").endswith("/v1"):
            findings.append(Finding(host, "model-endpoint", "pass", f"{name}: {endpoint}", kind="gitlab"))
        else:
            findings.append(Finding(host, "model-endpoint", "fail",
                                    f"{name}: {endpoint} must end in /v1 (set it in Admin > GitLab Duo > "
                                    "Self-hosted models)", kind="gitlab"))
    return findings
