#!/usr/bin/python
# ruff: noqa: EXE001 - modules keep the shebang Ansible expects and are not executable
# Copyright: remediate contributors
# MIT License (see LICENSE in the remediate repository)
"""The remediate.docker.apply module: plan a remediate playbook on the host's engine, then
recreate, verify, and restore the original on failure."""

from __future__ import annotations

DOCUMENTATION = r"""
module: apply
short_description: Apply a remediate playbook to the containers of the managed host's Docker engine
version_added: 0.1.0
description:
  - Selects the containers a remediate playbook matches on the managed host's engine, plans the
    change (what the equivalent C(docker run) command line becomes, which files are written),
    then recreates each changed container faithfully (every option the playbook does not change
    is kept), verifies it, and keeps the original as a stopped backup.
  - When verification fails, the original container (same id), its restart policy and the files
    are restored and the task fails with one line saying why.
  - In check mode nothing is touched; C(changed) says whether some container would be recreated.
    With C(--diff), the C(docker run) diff of each such container and the diff of each file are
    shown.
  - A second run finds nothing to change (C(changed=false)).
  - Secrets are masked by value, as C(no_log) masks them (env vars, flags and labels with secret
    names, every value of a secret-named I(vars) entry, nested ones too, secret shapes such as URL
    passwords, bearer tokens and C(glpat-), C(hf_), C(sk-), C(AKIA) tokens in any argument or
    result, and any var value the playbook puts in a secret place), wherever they appear in the
    results, diffs, messages and warnings.
  - Control characters in values are shown as escapes (C(\\x1b)) in the results and diffs.
extends_documentation_fragment:
  - remediate.docker.engine
  - remediate.docker.engine.pull
options:
  playbook:
    description:
      - A built-in playbook name (C(remediate list) shows them, e.g. C(fix-vllm-404)) or the path of
        a playbook file on the managed host.
    type: str
    required: true
  vars:
    description:
      - Values for the playbook's vars (like C(remediate apply -e)); undeclared names are refused.
      - Values of vars with secret names (C(api_key), C(hf_token), ...; every value nested under
        one), secret-shaped values, and values of vars the playbook renders into a secret place
        (such as the C(HF_TOKEN) env var) are masked in every result, including the module's echo
        of its own arguments.
    type: dict
    default: {}
  containers:
    description:
      - Only these container names or ids (each must exist and be selected by the playbook).
      - Default is every container the playbook selects.
    type: list
    elements: str
    default: []
  timeout:
    description:
      - Seconds verification keeps retrying before it counts as failed.
    type: float
    default: 60
  keep_backups:
    description:
      - Backups kept per container after a successful apply (older ones are removed).
    type: int
    default: 3
attributes:
  check_mode:
    support: full
    description: Plans only; nothing on the host changes.
  diff_mode:
    support: full
    description: The C(docker run) diff of every container that changes, and the diff of every file written.
notes:
  - Time-boxed playbooks (C(revert_after), such as C(troubleshoot-mode)) are refused; run them with
    the C(remediate) command, which holds the change and restores it.
  - With C(serial) and C(max_fail_percentage) in the play, Ansible schedules the hosts; a host
    whose verification fails is restored before its task fails.
author:
  - remediate contributors (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Serve the model name GitLab asks for, one host at a time
  hosts: gpu
  serial: 1
  max_fail_percentage: 0
  tasks:
    - name: Fix vLLM's 404
      remediate.docker.apply:
        playbook: fix-vllm-404
        vars:
          served_model_name: codestral
        timeout: 120
      register: fixed

- name: Show what would change (run with --check --diff)
  remediate.docker.apply:
    playbook: fix-ssl-ca-bundle
    vars:
      ca_bundle: /etc/ssl/certs/ca-certificates.crt
    containers: [ai-gateway]

- name: A playbook file on the managed host, on a non-default engine socket
  remediate.docker.apply:
    playbook: /etc/remediate/playbooks/my-fix.yml
    docker_host: unix:///run/docker-gpu.sock
"""

RETURN = r"""
host:
  description: The managed host's name (as its messages start with it).
  returned: always
  type: str
  sample: gpu-01
status:
  description:
    - C(planned) (check mode), C(ok) (nothing to change), C(changed), C(failed) (verification
      failed, the original restored), C(rollback failed) (the restore failed too; see
      I(manual_steps)), C(error) (nothing could be done, e.g. the host is locked).
  returned: always
  type: str
  sample: changed
containers:
  description:
    - One entry per selected container.
    - In check mode, the plan of each (C(action) C(recreate), C(update-in-place) or C(none)); otherwise what happened.
  returned: success and when verification failed
  type: list
  elements: dict
  contains:
    container:
      description: Container name.
      type: str
      sample: vllm
    action:
      description:
        - Check mode - C(recreate), C(update-in-place) (in place, C(docker update)) or C(none).
        - Otherwise C(recreated), C(updated), C(unchanged), C(rolled back), C(rollback failed) or C(skipped).
      type: str
      sample: recreated
    id_before:
      description: The container's id before (12 characters).
      type: str
      sample: 3f2a1b9c0d12
    id_after:
      description: The new container's id (null when it was not replaced).
      type: str
      sample: 9e8d7c6b5a43
    backup:
      description: Name of the stopped original kept for C(remediate rollback).
      type: str
      sample: vllm-remediate-backup-20260101T120000Z
    checks:
      description: The verification checks, each with C(name), C(ok), C(evidence) and C(attempts).
      type: list
      elements: dict
    changes:
      description: In check mode, each field's C(before), C(after), C(action) and C(reason).
      type: list
      elements: dict
    error:
      description: Why the container failed (redacted).
      type: str
plan:
  description: The whole plan as C(remediate apply --dry-run --format json) prints it (redacted).
  returned: when the host could be planned
  type: dict
after:
  description: What the playbook says is left to do by hand after a successful change (redacted).
  returned: when something changed and the playbook says so
  type: str
manual_steps:
  description: Commands to run by hand when the restore failed (C(rollback failed)).
  returned: when the restore failed
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
    from remediate import (
        after_message,
        mask_json,
        plan_json,
        plan_secrets,
        redact_mapping,
        redact_text,
        result_json,
        visible,
    )

FAILED_STATUSES = ("failed", "rollback failed", "unreachable", "error")


def diffs(plan):
    """Ansible ``diff`` entries for a plan (already redacted): the ``docker run`` view of each
    container that changes (read back from the plan's diff, so a changed secret, masked alike on
    both sides, shows as changed), and each file it writes."""
    entries = []
    for cp in plan["containers"]:
        if cp["action"] == "none":
            continue
        header = f"{cp['container']} (docker run)"
        entries.append({"before_header": header, "after_header": header,
                        "before": "".join(line[2:] + "\n" for line in cp["diff"] if line[:2] != "+ "),
                        "after": "".join(line[2:] + "\n" for line in cp["diff"] if line[:2] != "- ")})
        entries.extend({"prepared": "\n".join(f["diff"]) + "\n"} for f in cp["files"] if f["changed"])
    return entries


def planned_containers(plan):
    """The check-mode view of each container: its action and the changes."""
    return [{"container": cp["container"], "action": cp["action"], "id_before": cp["id"], "id_after": None,
             "backup": None, "checks": [], "changes": cp["changes"], "error": None} for cp in plan["containers"]]


def failure_message(playbook, result):
    """One line for a failed apply: which container, why, and whether the original is back."""
    failed = [c for c in result["containers"] if c["action"] in ("rolled back", "rollback failed")]
    if not failed:
        return f"{playbook}: apply failed"
    first = failed[0]
    outcome = (f"restored the original container {first['id_before']}" if first["action"] == "rolled back"
               else "ROLLBACK FAILED: run manual_steps by hand")
    why = " ".join((first["error"] or "failed").split())
    return f"{playbook}: {first['container']}: {why}; {outcome}"


def run(module):
    """Plan (check mode) or apply the playbook on this host's engine and exit the module."""
    params = module.params
    book = remediate.load_playbook(params["playbook"])
    if book.revert_after is not None:
        module.fail_json(msg=f"{book.name} is time-boxed (revert_after): run it with the remediate command, which holds "
                             "the change and restores it")
    overrides = params["vars"]
    invocation = {"module_args": dict(params, vars=redact_mapping(overrides))}
    jobs = remediate.jobs(book, [engine_target(module)], overrides=overrides, only=params["containers"])
    options = remediate.Options(dry_run=module.check_mode, timeout=params["timeout"],
                                keep_backups=params["keep_backups"], pull_stall=params["pull_stall"])
    outcome = remediate.rollout(jobs, options).outcomes[0]
    # Values the plan puts in secret places are secret too, whatever var they came from.
    secrets = plan_secrets(outcome.plan) if outcome.plan else []
    module.add_secrets(secrets)
    invocation["module_args"]["vars"] = mask_json(invocation["module_args"]["vars"], secrets)
    out = {"host": outcome.target.name, "status": outcome.status, "invocation": invocation}
    if outcome.plan is not None:
        out["plan"] = plan_json(outcome.plan)
        if module._diff:
            out["diff"] = diffs(out["plan"])
    if outcome.result is not None:
        out["containers"] = result_json(outcome.result)["containers"]
    elif outcome.plan is not None:
        out["containers"] = planned_containers(out["plan"])
    if outcome.status in FAILED_STATUSES:
        if outcome.result is not None:
            out["manual_steps"] = [s for c in out["containers"] for s in c["manual_steps"]]
            module.fail_json(msg=failure_message(book.name, out), changed=outcome.status == "rollback failed", **out)
        module.fail_json(msg=visible(redact_text(outcome.error or "apply failed")), changed=False, **out)
    changed = bool(outcome.plan and outcome.plan.changed) if module.check_mode else outcome.status == "changed"
    after = after_message(outcome.plan) if outcome.plan is not None and changed and not module.check_mode else None
    if after:
        out["after"] = " ".join(after.split())
    module.exit_json(changed=changed, **out)


def main():
    """Entry point."""
    argument_spec = {
        "playbook": {"type": "str", "required": True},
        "vars": {"type": "dict", "default": {}},
        "containers": {"type": "list", "elements": "str", "default": []},
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
            module.fail_json(msg=visible(redact_text(exc.message)), changed=False)
        except Exception as exc:  # noqa: BLE001 # pylint: disable=broad-except
            fail_unexpected(module, exc)


if __name__ == "__main__":
    main()
