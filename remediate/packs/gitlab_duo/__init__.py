"""The GitLab Duo Self-Hosted pack: the AI gateway and vLLM checks, ``diagnose``, the GitLab host
checks over SSH, and the playbooks and templates of the troubleshooting guide (:data:`SOURCE`,
registered as the ``gitlab-duo`` playbook source in ``pyproject.toml``)."""

from __future__ import annotations

from pathlib import Path

from remediate.core.sources import PlaybookSource

_HERE = Path(__file__).resolve().parent
_CHECKOUT = _HERE.parents[2]  # a source tree keeps playbooks/ and templates/ at its top


def _data_dir(kind: str) -> Path:
    packaged = _HERE / kind  # where the wheel puts them (pyproject.toml: force-include)
    return packaged if packaged.is_dir() else _CHECKOUT / kind


SOURCE = PlaybookSource("gitlab-duo", playbooks=_data_dir("playbooks"), templates=_data_dir("templates"))
