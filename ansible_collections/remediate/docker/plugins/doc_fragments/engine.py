# Copyright: remediate contributors
# MIT License (see LICENSE in the remediate repository)
"""Documentation of the options every remediate.docker module shares."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - The engine socket on the managed host, as C(unix:///path/docker.sock).
      - When not set, the C(DOCKER_HOST) environment variable of the module's process names it
        (set it with the play's C(environment) keyword), else C(unix:///var/run/docker.sock).
      - Only local sockets, as the module itself runs on the managed host.
    type: str
requirements:
  - remediate (the Python library, with the Docker SDK) installed for the managed host's Python
    (C(ansible_python_interpreter)).
notes:
  - The modules run on the managed host and talk to its engine through the socket; no SSH from
    the module. One apply, rollback or recover at a time per engine (remediate's lock), and the
    journal in C(/var/lib/remediate/<engine>/) (for root; another user's is in
    C(~/.local/state/remediate/<engine>/); C(REMEDIATE_STATE_DIR) moves it, and it must not be
    writable by other users) lets C(remediate recover) finish an apply that was interrupted.
"""

    # An image pull's bound (remediate.docker.engine.pull): the modules that may pull an image.
    PULL = r"""
options:
  pull_stall:
    description:
      - Seconds an image pull may go without progress before it is aborted (a registry that stopped
        sending); nothing changes. Like C(remediate apply --pull-stall).
    type: float
    default: 60.0
"""
