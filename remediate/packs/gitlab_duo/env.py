"""How a playbook spells the AI gateway's environment (the pack's :attr:`~remediate.core.sources.Pack.env_value`).

For ``AIGW_*`` variables a boolean spelled another way (``"True"``, ``"FALSE"``) is lowercased:
the gateway accepts any case, but its ``troubleshoot`` script compares the raw string with
``"true"``. A container that has ``AIGW_X=True`` while the playbook wants ``true`` is therefore
*not* equal: applying the playbook rewrites the value in lowercase.
"""

from __future__ import annotations


def gateway_env_value(name: str, value: str | None) -> str | None:
    """``value`` of the env var ``name`` as a playbook means it: an ``AIGW_*`` boolean lowercased.

    >>> gateway_env_value("AIGW_AUTH__BYPASS_EXTERNAL", "True"), gateway_env_value("OTHER", "True")
    ('true', 'True')
    """
    if value is not None and name.startswith("AIGW_") and value.lower() in ("true", "false"):
        return value.lower()
    return value
