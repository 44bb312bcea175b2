"""The pack's commands on the ``remediate`` command line (:attr:`remediate.core.sources.Pack.commands`):
``diagnose`` (and ``--fix``) and ``bundle``. Like :mod:`remediate.cli`, whose options, prompts and
views they share, they parse, prompt and print; the pack's library does the work."""

from __future__ import annotations

from remediate.packs.gitlab_duo.commands.bundle import bundle
from remediate.packs.gitlab_duo.commands.diagnose import diagnose_cmd

#: The click commands the pack adds.
COMMANDS = (diagnose_cmd, bundle)
