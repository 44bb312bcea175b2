"""`remediate --help` starts fast: no command loads the library's planning, redaction, engine or
report machinery at import time; each command imports what it runs when it runs (pure)."""

from __future__ import annotations

import json
import subprocess
import sys

#: Loaded only by a command that runs: each costs tens to hundreds of milliseconds at start-up.
HEAVY = ("remediate.core.planner", "remediate.core.playbook", "remediate.core.redaction", "remediate.output.plan",
         "remediate.output.result", "remediate.executor.probes", "remediate.host.connection", "docker", "pydantic", "rich", "yaml", "jinja2")

_LOADED = """\
import contextlib, io, json, sys
from remediate.cli.main import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main(["--help"])
print(json.dumps(sorted(sys.modules)))
"""


def test_help_loads_no_command_machinery() -> None:
    out = subprocess.run([sys.executable, "-c", _LOADED], capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(out))
    assert [name for name in HEAVY if name in loaded] == []


_AT_EXIT = """\
import atexit, contextlib, gc, io
atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0))
from remediate.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["--version"])
"""


def test_exit_freezes_the_run_before_the_interpreter_unloads_it() -> None:
    """A run's objects are frozen at exit, so the collections the interpreter makes as it unloads
    the modules skip them; the exit handlers registered before the command still run after it."""
    done = subprocess.run([sys.executable, "-c", _AT_EXIT], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "frozen at exit: True\n", "")
