"""``remediate new``: the commented skeleton of a playbook, and the playbook JSON Schema for editors."""

from __future__ import annotations

import re
from typing import Any

from remediate.errors import PlaybookError

#: The ``$id`` of the playbook schema (``remediate schema``).
SCHEMA_ID = "https://remediate.invalid/schemas/playbook.json"

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")

_SKELETON = """\
# A remediate playbook: which containers it selects, what it changes, how the change is verified.
# Check it with `remediate lint {name}.yml`, try it with `remediate apply ./{name}.yml --dry-run`.
# Editor completion and checks (yaml-language-server, e.g. VS Code's YAML extension):
#   remediate schema > playbook.schema.json    (then the next line finds it)
# yaml-language-server: $schema=playbook.schema.json
name: {name}
description: >-
  The symptom this playbook fixes, and what it changes to fix it.
# confirm: `apply` shows the plan and asks (or needs --yes); auto: applied without asking.
safety: confirm
# Variables with their defaults; `remediate apply {name} -e port=9000` overrides one.
vars:
  port: 8000
# Every key given must match; a list of selectors matches when any does.
select:
  image: "vllm/vllm-openai*"
# The ordered changes: env, args, network, platform, mount or file (one per item).
changes:
  - env:
      EXAMPLE_SETTING: "true"       # null removes a variable
  - args:
      set:
        --port: "{{{{ port }}}}"
# Checked after the change; on failure the original container is put back.
verify:
  - http:
      port: "{{{{ port }}}}"
      path: /health
      status: 200
"""


def skeleton(name: str) -> str:
    """The commented skeleton playbook named ``name`` (it lints clean).

    Raises:
        PlaybookError: ``name`` is not a playbook name (lowercase letters, digits and dashes).
    """
    if not _NAME.match(name):
        raise PlaybookError(f"{name[:80]!r} is not a playbook name: lowercase letters, digits and dashes, "
                            "starting with a letter or digit")
    return _SKELETON.format(name=name)


def playbook_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a playbook file, from the playbook's pydantic models."""
    from remediate.core.playbook import Playbook

    schema = Playbook.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
