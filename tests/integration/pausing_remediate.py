"""`remediate` with a pause (or a failure) after one journal step: the crash tests' fault
injection, kept out of the library (it only has the ``on_record`` hook of
:class:`remediate.executor.journal.Journal`).

``python -m tests.integration.pausing_remediate ARGS...`` runs ``remediate ARGS...``; right after
the journal records step ``$REMEDIATE_PAUSE_AT`` it prints ``remediate: paused at <step>`` on
stderr and waits: until the file ``$REMEDIATE_RESUME_FILE`` exists (then it carries on, e.g. into
an engine the test killed meanwhile), else for an hour (the test kills it). Right after it
records step ``$REMEDIATE_FAIL_AT``, that step fails (an ``ApplyError``), as a failing engine
call there would: the apply undoes it in the process.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from remediate.cli.main import main
from remediate.errors import ApplyError
from remediate.executor import journal
from remediate.executor.record import Record, StepDone

_paused = threading.Event()  # pause once: a resumed run carries on to its end
_failed = threading.Event()  # fail once: the undo that follows runs as it would


def _pause(record: Record) -> None:
    step_done = record.step if isinstance(record, StepDone) else None
    fail = os.environ.get("REMEDIATE_FAIL_AT")
    if fail and not _failed.is_set() and step_done == fail:
        _failed.set()
        raise ApplyError(f"injected failure after step {fail}")
    step = os.environ.get("REMEDIATE_PAUSE_AT")
    if _paused.is_set() or step_done is None or step_done != step:
        return
    _paused.set()
    print(f"remediate: paused at {step}", file=sys.stderr, flush=True)
    resume = os.environ.get("REMEDIATE_RESUME_FILE")
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline and not (resume and os.path.exists(resume)):
        time.sleep(0.1)


if __name__ == "__main__":
    journal.default_on_record = _pause
    sys.argv[0] = "remediate"
    main()
