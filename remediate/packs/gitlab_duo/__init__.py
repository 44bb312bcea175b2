"""The GitLab Duo Self-Hosted pack: the AI gateway and vLLM checks, ``diagnose``, the GitLab host
checks over SSH, the playbooks and templates of the troubleshooting guide, how its playbooks spell
the gateway's environment, and its commands (``diagnose``, ``bundle``); all in :data:`SOURCE`,
registered as the ``gitlab-duo`` pack in ``pyproject.toml``."""

from __future__ import annotations

from pathlib import Path

from remediate.core.sources import Pack
from remediate.packs.gitlab_duo.env import gateway_env_value

#: The model name the gateway sends to vLLM when a self-hosted model has no identifier (here, not in
#: :mod:`~remediate.packs.gitlab_duo.diagnose`: the ``diagnose`` command's option default, read at start-up).
DEFAULT_MODEL_NAME = "mistral"

_HERE = Path(__file__).resolve().parent
_CHECKOUT = _HERE.parents[2]  # a source tree keeps playbooks/ and templates/ at its top


def _data_dir(kind: str) -> Path:
    packaged = _HERE / kind  # where the wheel puts them (pyproject.toml: force-include)
    return packaged if packaged.is_dir() else _CHECKOUT / kind


SOURCE = Pack("gitlab-duo", playbooks=_data_dir("playbooks"), templates=_data_dir("templates"),
              env_value=gateway_env_value, commands="remediate.packs.gitlab_duo.commands")
