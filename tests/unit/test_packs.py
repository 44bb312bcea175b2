"""A domain pack registers what it adds (a ``remediate.core.sources.Pack``): its playbooks, how it
spells its environment values, its commands; the core and the CLI know no pack."""

from __future__ import annotations

import importlib

import click

from remediate.cli.main import main
from remediate.core import playbook as pb
from remediate.core.sources import packs
from remediate.packs.gitlab_duo import SOURCE
from remediate.packs.gitlab_duo.env import gateway_env_value


def test_the_shipped_pack_is_registered_with_its_env_spelling_and_commands() -> None:
    assert SOURCE in packs()
    assert SOURCE.env_value is gateway_env_value
    commands = importlib.import_module(SOURCE.commands or "").COMMANDS
    assert {c.name for c in commands} == {"diagnose", "bundle"}
    ctx = click.Context(main)
    assert all(main.get_command(ctx, c.name or "") is c for c in commands)  # the CLI takes them from the pack
    assert {"diagnose", "bundle"} <= set(main.list_commands(ctx))


def test_the_pack_spells_gateway_booleans_and_leaves_the_rest() -> None:
    assert gateway_env_value("AIGW_X", "FALSE") == "false"
    assert gateway_env_value("AIGW_X", "Falsey") == "Falsey"
    assert gateway_env_value("AIGW_X", None) is None
    assert gateway_env_value("OTHER", "True") == "True"
    # what a playbook's env change holds is the pack's spelling
    assert pb.EnvChange.model_validate({"env": {"AIGW_A": "TRUE", "B": "TRUE"}}).env == {"AIGW_A": "true", "B": "TRUE"}
