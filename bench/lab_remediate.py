"""``remediate`` for a lab whose hosts share one file system (bench/rollout.py only).

Real Docker hosts each have their own disk. The lab hosts are network namespaces on *this*
machine's file system, so the per-host state remediate keeps on each host (journal and host lock
under ``REMEDIATE_STATE_DIR``) lands in one directory tree for all of them. remediate names its
state dir after the engine id, but the 8 hosts of a parallel rollout still create the common
parent over SFTP at the same instant, and its stat-then-mkdir loses that race ("cannot create
.../lock: Failure"); older trees used one lock file for every host outright. This shim gives each
host its own state directory (``<state dir>/<engine id>/<host label>``), made beforehand on the
shared file system - what separate disks give real hosts - and then runs the normal CLI.

    python bench/lab_remediate.py apply PLAYBOOK -i inventory --forks 8 --yes
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any


def _per_host(cls: Any) -> None:
    init = cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        from remediate.executor.statedir import state_dir

        init(self, *args, **kwargs)
        label = re.sub(r"[^A-Za-z0-9_.-]", "_", self.conn.label)
        base = self.directory or state_dir(self.conn)
        # Given the lock's directory (a journal opened under the lock): already the host's own.
        self.directory = base if base.endswith(f"/{label}") else f"{base}/{label}"
        # Made here (shared file system): 8 hosts creating the common parent over SFTP at the same
        # instant race in remediate's stat-then-mkdir, and all but one fail with "Failure".
        os.makedirs(self.directory, exist_ok=True)

    cls.__init__ = __init__


def main() -> None:
    from remediate.executor import journal, lock

    _per_host(journal.Journal)
    _per_host(lock.HostLock)
    from remediate.cli.main import main as cli

    cli()


if __name__ == "__main__":
    sys.exit(main())
