#!/usr/bin/python
# ruff: noqa: EXE001 - modules keep the shebang Ansible expects and are not executable
# Copyright: remediate contributors
# MIT License (see LICENSE in the remediate repository)
"""The remediate.docker.diagnose module: checks of the GitLab Duo AI gateway and vLLM containers
on the managed host's engine; with ``fix``, the fixes of what fails applied (``remediate diagnose --fix``)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: diagnose
short_description: Read-only checks of the GitLab Duo AI gateway and vLLM containers on the managed host
version_added: 0.1.0
description:
  - Runs remediate's checks from the GitLab Duo Self-Hosted troubleshooting guide on every AI
    gateway and vLLM container of the managed host's engine (like C(remediate diagnose)) and
    returns the findings, each C(pass), C(warn) or C(fail) with its evidence and the playbook
    that fixes a failure.
  - Without I(fix), reads only; the task is never C(changed) and does not fail because a check
    failed (test I(ok) or I(counts) with C(failed_when) for that).
  - With I(fix), like C(remediate diagnose --fix --yes), the fixing playbooks of the failing
    checks are merged per container and applied, each container recreated and verified once
    (in check mode, planned only); what no playbook fixes is listed in I(left).
  - Evidence is redacted (secret env vars, flags, tokens in URLs and headers).
extends_documentation_fragment:
  - remediate.docker.engine
  - remediate.docker.engine.pull
options:
  error_code:
    description:
      - A Duo Chat error code (C(A1000) to C(A1008), C(A6000), C(A9999)); adds its
        explanation and the checks specific to it.
    type: str
  model_name:
    description:
      - The model name the AI gateway sends to vLLM (the served name vLLM needs).
    type: str
    default: mistral
  containers:
    description:
      - Only these container names or ids (each must exist). Default is every container.
    type: list
    elements: str
    default: []
  fix:
    description:
      - Apply the fixing playbooks of every failing check (the task is C(changed) when a
        container was recreated; in check mode, when one would be).
    type: bool
    default: false
  vars:
    description:
      - With I(fix), values for the fixing playbooks' vars (like C(remediate diagnose --fix -e));
        a name no fixing playbook declares is refused. Values of secret vars (nested ones too) and
        secret-shaped values are masked wherever they appear.
    type: dict
    default: {}
  timeout:
    description: With I(fix), seconds verification keeps retrying before it counts as failed.
    type: float
    default: 60.0
  keep_backups:
    description: With I(fix), backups kept per container after a successful apply.
    type: int
    default: 3
attributes:
  check_mode:
    support: full
    description: Reads only, in check mode too (with I(fix), plans only).
  diff_mode:
    support: none
    description: Nothing changes, so there is no diff.
author:
  - remediate contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Check every GPU host's model server and gateway
  remediate.docker.diagnose:
  register: diagnosis

- name: Fail the hosts where a check failed
  remediate.docker.diagnose:
    error_code: A1003
  register: diagnosis
  failed_when: not diagnosis.ok

- name: Fix what a playbook can fix, each container recreated once
  remediate.docker.diagnose:
    fix: true
    vars:
      template_host_path: /etc/vllm/chat_template.jinja
  register: fixed

- name: Which playbooks fix what failed
  ansible.builtin.debug:
    msg: "{{ diagnosis.findings | selectattr('status', 'equalto', 'fail') | map(attribute='fix') | list }}"
"""

RETURN = r"""
host:
  description: The managed host's name.
  returned: always
  type: str
  sample: gpu-01
ok:
  description: True when no finding has status C(fail).
  returned: success
  type: bool
  sample: false
counts:
  description: How many findings have each status.
  returned: success
  type: dict
  sample: {"pass": 9, "warn": 1, "fail": 1}
error:
  description:
    - The error code's C(code), C(message), C(meaning), related C(checks), C(playbooks) that may
      fix it, and the related checks C(not_passing); null without I(error_code).
  returned: success
  type: dict
findings:
  description: One entry per check and container.
  returned: success
  type: list
  elements: dict
  contains:
    container:
      description: Container name.
      type: str
      sample: vllm
    kind:
      description: C(ai-gateway), C(vllm) or C(other).
      type: str
      sample: vllm
    check:
      description: The check's name.
      type: str
      sample: served-model
    status:
      description: C(pass), C(warn) or C(fail).
      type: str
      sample: fail
    evidence:
      description: What was seen (redacted).
      type: str
    fix:
      description: The playbook that fixes a failure, or null.
      type: str
      sample: fix-vllm-404
hosts:
  description:
    - With I(fix), one entry per merged fixing playbook (C(host), C(status), C(error), C(plan),
      C(result)), as C(remediate diagnose --fix --format json).
  returned: with fix
  type: list
  elements: dict
summary:
  description: With I(fix), how many merged playbooks ended in each status.
  returned: with fix
  type: dict
  sample: {"changed": 1}
left:
  description: With I(fix), what no playbook fixes here (or a fix that needs a var), one line each.
  returned: with fix
  type: list
  elements: str
"""

from ansible_collections.remediate.docker.plugins.module_utils.common import (
    ENGINE_ARGS,
    PULL_ARGS,
    REMEDIATE_IMPORT_ERROR,
    RemediateModule,
    engine_target,
    fail_unexpected,
    library_warnings,
    require_remediate,
)

if REMEDIATE_IMPORT_ERROR is None:
    import remediate
    from remediate import diagnose, explain, findings_json, redact_text


def run(module):
    """Diagnose this host's engine and exit the module with the findings."""
    params = module.params
    if params["error_code"]:
        try:
            explain(params["error_code"])
        except ValueError as exc:
            module.fail_json(msg=str(exc))
    target = engine_target(module)
    if params["fix"]:
        fix(module, target)
    with remediate.Connection(target.url, label=target.name) as conn:
        findings = diagnose(conn, error_code=params["error_code"], model_name=params["model_name"],
                            containers=params["containers"])
    data = findings_json(findings, error_code=params["error_code"], host=target.name)
    module.exit_json(changed=False, **data)


def fix(module, target):
    """Fix what a playbook can fix on this host's engine (planned only in check mode); exit the module."""
    params = module.params
    options = remediate.Options(dry_run=module.check_mode, timeout=params["timeout"],
                                keep_backups=params["keep_backups"], parallel=4, pull_stall=params["pull_stall"])
    result = remediate.fix([target], options, overrides=params["vars"], error_code=params["error_code"],
                           model_name=params["model_name"], containers=params["containers"])
    for exc in result.unreachable:
        module.fail_json(msg=redact_text(exc.message))
    data = dict(result.to_json(), host=target.name, ok=not result.left)
    rollout = result.rollout
    if rollout.failed:
        first = rollout.failed[0]
        why = first.error or next((f"{c.name}: {c.error}" for c in first.result.containers if c.error),
                                  first.status) if first.result is not None else first.status
        module.fail_json(msg=redact_text(f"{first.plan.playbook if first.plan else 'fix'}: {why}"),
                         changed=first.status == "rollback failed", **data)
    changed = rollout.changes if module.check_mode else any(o.status == "changed" for o in rollout.outcomes)
    module.exit_json(changed=changed, **data)


def main():
    """Entry point."""
    argument_spec = {
        "error_code": {"type": "str"},
        "model_name": {"type": "str", "default": "mistral"},
        "containers": {"type": "list", "elements": "str", "default": []},
        "fix": {"type": "bool", "default": False},
        "vars": {"type": "dict", "default": {}},
        "timeout": {"type": "float", "default": 60.0},
        "keep_backups": {"type": "int", "default": 3},
        **ENGINE_ARGS,
        **PULL_ARGS,
    }
    module = RemediateModule(argument_spec=argument_spec, supports_check_mode=True)
    require_remediate(module)
    if module.params["timeout"] <= 0 or module.params["keep_backups"] < 0 or module.params["pull_stall"] < 1:
        module.fail_json(msg="timeout must be positive, keep_backups at least 0 and pull_stall at least 1")
    with library_warnings(module):
        try:
            run(module)
        except remediate.RemediateError as exc:
            module.fail_json(msg=redact_text(exc.message))
        except Exception as exc:  # noqa: BLE001 # pylint: disable=broad-except
            fail_unexpected(module, exc)


if __name__ == "__main__":
    main()
