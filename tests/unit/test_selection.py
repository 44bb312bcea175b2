"""What a listing (``docker ps``) lets remediate rule out before it inspects anything: containers
no selector can match, containers that cannot be tied to a target; and plans with the same change
shown once. Pure: summaries and inspects as the engine (20.10) gives them."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest

from remediate.cli.views import same_change
from remediate.core.listing import linker_filters, name_regex, selection_filters, tie_filters
from remediate.core.planner import Observed, may_select, selected
from remediate.core.playbook import Selector
from remediate.executor.tie_lookup import candidates

T_ID = "a" * 64


def _summary(name: str, ident: str = "", *, created: int = 100, image: str = "busybox:1",
             labels: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"Id": ident or name.ljust(64, "0"), "Names": [f"/{name}"], "Image": image, "ImageID": "sha256:" + "9" * 64,
            "Labels": labels or {}, "Created": created, "Command": "sleep 1d",
            "HostConfig": {"NetworkMode": "default"}, "Mounts": [], **extra}


def _inspect(name: str, *, image: str = "busybox:1", labels: dict[str, str] | None = None,
             env: list[str] | None = None) -> dict[str, Any]:
    return {"Id": name.ljust(64, "0"), "Name": f"/{name}", "Image": "sha256:" + "9" * 64,
            "Config": {"Image": image, "Labels": labels or {}, "Env": env or [], "Cmd": ["sleep", "1d"]}}


def _sel(**keys: Any) -> Selector:
    return Selector.model_validate(keys)


@pytest.mark.parametrize(("selector", "summary", "may"), [
    (_sel(name="web-*"), _summary("web-1"), True),
    (_sel(name="web-*"), _summary("db-1"), False),
    (_sel(labels={"app": "x"}), _summary("a", labels={"app": "x", "b": "c"}), True),
    (_sel(labels={"app": "x"}), _summary("a", labels={"app": "y"}), False),
    (_sel(image="vllm/vllm-openai*"), _summary("v", image="docker.io/vllm/vllm-openai:v0.18.1"), True),
    (_sel(image="vllm/vllm-openai*"), _summary("v", image="nginx"), False),
    # The reference names another image now: the listing shows the id, which rules nothing out.
    (_sel(image="vllm/vllm-openai*"), _summary("v", image="sha256:" + "9" * 64), True),
    # Env and command are not (exactly) in the listing: only the other keys decide.
    (_sel(env="AIGW_*"), _summary("anything"), True),
    (_sel(env="AIGW_*", name="gw"), _summary("other"), False),
    (_sel(command="*vllm serve*"), _summary("v"), True),
    (_sel(name="*"), _summary("web-remediate-backup-20260101T000000000"), False),
])
def test_a_listing_rules_out_only_what_no_selector_can_match(selector: Selector, summary: dict[str, Any],
                                                             may: bool) -> None:
    assert may_select([selector], summary) is may


def test_what_the_listing_lets_through_is_matched_on_the_inspect() -> None:
    gateway = Observed(_inspect("gw", env=["AIGW_X=1"]))
    plain = Observed(_inspect("plain"))
    env = [_sel(env="AIGW_*")]
    assert may_select(env, _summary("gw")) and may_select(env, _summary("plain"))
    assert selected(env, gateway) and not selected(env, plain)


def test_tied_candidates_are_what_the_listing_cannot_rule_out() -> None:
    target = {"Id": T_ID, "Name": "/t", "Created": "2026-01-01T00:00:00.5Z",
              "Mounts": [{"Type": "volume", "Name": "data", "Source": "/var/lib/docker/volumes/data/_data",
                          "Destination": "/data"}]}
    data = [{"Type": "volume", "Name": "data", "Source": "/var/lib/docker/volumes/data/_data", "Destination": "/data"}]
    rows = [
        _summary("t", T_ID, created=100, Names=["/t", "/linker/db"]),
        _summary("linker", created=50),                                    # --link t:db, made before t's rename
        _summary("net-by-name", created=10, HostConfig={"NetworkMode": "container:t"}),
        _summary("net-by-id", created=10, HostConfig={"NetworkMode": f"container:{T_ID}"}),
        _summary("newer", created=100),                                    # may join t's IPC or PID namespace
        _summary("reader", created=10, Mounts=data),                       # --volumes-from an earlier t
        _summary("older", created=99),
        _summary("older-net", created=10, HostConfig={"NetworkMode": "container:other"}),
        _summary("newer-remediate-new", created=200),
    ]
    found = {row["Names"][0][1:] for row in rows if row["Id"] in candidates(rows, [target])}
    # The target itself is listed too (another target may be tied to it); the exact test rules it out.
    assert found == {"t", "linker", "net-by-name", "net-by-id", "newer", "reader"}


NAMES = ["web-1", "web-12", "web.1", "webx1", "a-web-1", "web-1-remediate-backup-20260101T000000000", "w", "web+1",
         "api_v2", "api.v2", "db"]


@pytest.mark.parametrize("glob", ["web-*", "web-?", "web.1", "*", "api_v?", "api.v2", "w*b+1", "db", "*-1"])
def test_the_engine_name_filter_matches_what_the_glob_matches(glob: str) -> None:
    regex = name_regex(glob)
    assert regex is not None
    # The engine matches the expression on the name with its slash (Docker) or without (Podman).
    for shown in ("/{}", "{}"):
        assert [n for n in NAMES if re.search(regex, shown.format(n))] == [n for n in NAMES if fnmatch.fnmatchcase(n, glob)]


def test_a_selector_the_engine_cannot_narrow_lists_everything() -> None:
    assert selection_filters([_sel(labels={"app": "x", "tier": ""}, name="web-*"), _sel(name="db")]) == [
        {"label": ["app=x", "tier="], "name": ["^/?web\\-.*$"]}, {"name": ["^/?db$"]}]
    assert selection_filters([_sel(labels={"app": "x"}), _sel(image="nginx")]) is None
    assert selection_filters([_sel(name="web-[12]")]) is None  # a character class: matched here only
    assert selection_filters([_sel(name="web-[12]", labels={"app": "x"})]) == [{"label": ["app=x"]}]


def test_the_tie_lookup_lists_what_is_newer_than_the_oldest_target_and_what_mounts_the_same() -> None:
    # Nanoseconds as the engine writes them: 0.123456789 s is before 0.5 s.
    older = {"Id": "o" * 64, "Created": "2026-01-01T00:00:00.123456789Z",
             "Mounts": [{"Type": "bind", "Source": "/srv/data", "Destination": "/data"},
                        {"Type": "volume", "Name": "cache", "Source": "/var/lib/docker/volumes/cache/_data",
                         "Destination": "/cache"}]}
    newer = {"Id": "n" * 64, "Created": "2026-01-01T00:00:00.5Z",
             "Mounts": [{"Type": "volume", "Name": "logs", "Destination": "/logs"}]}
    alone = {"Id": "a" * 64, "Created": "2026-01-01T00:00:01Z", "Mounts": []}

    # The newer targets are in the "since" listing: only the oldest is listed by id.
    assert tie_filters([newer, older, alone]) == [
        {"since": ["o" * 64]}, {"id": ["o" * 64]}, {"volume": ["/srv/data", "logs"]}]
    as_old = {**alone, "Id": "s" * 64, "Created": older["Created"]}  # the engine cannot order these two
    assert tie_filters([older, as_old])[:2] == [{"since": ["o" * 64]}, {"id": ["o" * 64, "s" * 64]}]  # type: ignore[index]
    assert tie_filters([alone]) == [{"since": ["a" * 64]}, {"id": ["a" * 64]}]
    assert tie_filters([{**alone, "Created": None}]) is None  # when it was made is not known: list everything
    assert linker_filters([_summary("t", Names=["/t", "/web/db", "/api-1/db"])]) == [
        {"name": ["^/?api\\-1$", "^/?web$"]}]
    assert linker_filters([_summary("t")]) == []


def _cp(name: str, env: str = "A=1", **extra: Any) -> dict[str, Any]:
    return {"container": name, "id": name[:12], "action": "recreate", "compose": None, "changes": [],
            "diff": ["  --name " + name, f"+ --env {env}", "  busybox:1"], "files": [], "notes": [],
            "dependents": [], "verify": [], **extra}


def test_plans_that_differ_only_in_the_name_are_shown_once() -> None:
    plans = [_cp("a"), _cp("b"), _cp("c", env="A=2"), _cp("d", notes=["compose: x"]), _cp("e")]
    assert [[p["container"] for p in group] for group in same_change(plans)] == [["a", "b", "e"], ["c"], ["d"]]


def test_a_name_inside_another_value_keeps_plans_apart() -> None:
    # Only the --name line may differ: env values that spell each container's own name differ.
    assert len(same_change([_cp("a", env="SELF=a"), _cp("b", env="SELF=b")])) == 2
