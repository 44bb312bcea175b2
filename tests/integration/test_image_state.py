"""A recreate keeps the image the container runs and whether it runs (issue 21, classes 2 and 3).

Real engines, both generations (the ``engine`` fixture: the local 20.10 and Debian 13's 26.1), the
real ``remediate`` process as a user on that engine's host runs it. Two images built here from
the lab's busybox differ only in their defaults (``FLAVOR=a`` / ``FLAVOR=b``); ``app:1`` names the
first until a test moves it, as ``docker tag`` or a re-pulled ``:latest`` does.

Everything is named ``rt-img-<pid>-*`` and labelled with the test owner; each test removes its
containers, the module its images.
"""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_LABEL
from tests.integration._proc import (
    MODEL_ARGS,
    REMEDIATE,
    SEED_TEMPLATE,
    VLLM_IMAGE,
    WAIT,
    remediate_env,
)
from tests.integration._proc import PLAYBOOK as PLAYBOOK_404
from tests.lab.engines import Engine

docker = pytest.importorskip("docker")

pytestmark = pytest.mark.integration

PREFIX = f"rt-img-{os.getpid()}-"
REPO = f"rt-img-{os.getpid()}/app"
TAG = f"{REPO}:1"
BUSYBOX = "remediate-test/busybox:1"
SLEEP = ["sleep", "3600"]

#: An env fix; ``start_stopped`` (default false) starts a stopped container it recreates.
PLAYBOOK = """
name: rt-img-env
description: sets FIX
safety: auto
vars: {fix: "1", start_stopped: false}
select: {name: "rt-img-*"}
start: "{{ start_stopped }}"
changes:
  - env: {FIX: "{{ fix }}"}
"""


@pytest.fixture(scope="module")
def images(engine: Engine) -> Iterator[dict[str, str]]:
    """Image id of flavour ``a`` and ``b`` on the engine (``app:1`` is re-pointed per test)."""
    client = engine.client()
    ids = {}
    try:
        for flavour in ("a", "b"):
            dockerfile = f"FROM {BUSYBOX}\nENV FLAVOR={flavour}\nLABEL rt-img.flavour={flavour}\n"
            image, _ = client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=f"{REPO}:{flavour}", rm=True)
            ids[flavour] = str(image.id)
        yield ids
    finally:
        for ref in (f"{REPO}:a", f"{REPO}:b", TAG):
            with contextlib.suppress(docker.errors.ImageNotFound):  # a test removed it
                client.images.remove(ref, force=True)
        client.close()


class Box:
    """One test's container on one engine, and remediate run against it."""

    def __init__(self, engine: Engine, images: dict[str, str], tmp_path: Path) -> None:
        self.engine, self.images = engine, images
        self.client = engine.client()
        self.name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
        self.state_dir = str(tmp_path / "state")
        self.playbook = tmp_path / "rt-img-env.yml"
        self.playbook.write_text(PLAYBOOK, encoding="utf-8")
        self.tag("a")

    def tag(self, flavour: str) -> None:
        self.client.images.get(self.images[flavour]).tag(REPO, "1")

    def run(self, command: list[str] | None = None, *, start: bool = True, **kwargs: Any) -> dict[str, Any]:
        created = self.client.api.create_container(
            TAG, command or SLEEP, name=self.name, labels={TEST_LABEL: str(os.getpid())},
            host_config=self.client.api.create_host_config(**kwargs.pop("host", {})), **kwargs)
        if start:
            self.client.api.start(created["Id"])
        return self.inspect()

    def inspect(self, ref: str | None = None) -> dict[str, Any]:
        return dict(self.client.api.inspect_container(ref or self.name))

    def ours(self) -> dict[str, dict[str, Any]]:
        """Name -> inspect of this test's containers (the original, backups, new ones)."""
        found = {}
        for c in self.client.api.containers(all=True):
            name = c["Names"][0].lstrip("/")
            if name.startswith(self.name):
                found[name] = self.inspect(c["Id"])
        return found

    def remediate(self, *args: str) -> tuple[int, str]:
        proc = self.engine.run([REMEDIATE, *args], env=remediate_env(self.state_dir), timeout=WAIT)
        return proc.returncode, proc.stdout + proc.stderr

    def apply(self, *extra: str) -> tuple[int, str]:
        return self.remediate("apply", str(self.playbook), "--container", self.name, "--yes", *extra)

    def close(self) -> None:
        for c in self.client.api.containers(all=True):
            if c["Names"][0].lstrip("/").startswith(self.name):
                self.client.api.remove_container(c["Id"], force=True)
        self.client.close()


@pytest.fixture
def box(engine: Engine, images: dict[str, str], tmp_path: Path) -> Iterator[Box]:
    b = Box(engine, images, tmp_path)
    try:
        yield b
    finally:
        b.close()


def _env(inspect: dict[str, Any]) -> dict[str, str]:
    return dict(e.split("=", 1) for e in inspect["Config"]["Env"])


# --------------------------------------------------------------------------- the image

def test_a_fix_keeps_the_image_and_shows_the_tag(box: Box) -> None:
    box.run(environment={"FLAVOR": "a"})  # equal to the image's default: not kept as user-set

    code, out = box.apply()

    assert code == 0, out
    new = box.inspect()
    assert new["Image"] == box.images["a"] and new["Config"]["Image"] == TAG
    assert _env(new)["FIX"] == "1" and _env(new)["FLAVOR"] == "a"


def test_a_moved_tag_is_shown_and_the_container_keeps_its_image(box: Box) -> None:
    original = box.run(environment={"FLAVOR": "a"})
    box.tag("b")  # `docker tag`, or `:latest` pulled again: app:1 names another image now

    code, out = box.apply("--dry-run")
    assert code == 0, out
    short_a, short_b = box.images["a"][7:19], box.images["b"][7:19]
    assert f"image (warning): {TAG} now names image {short_b}; the container keeps the image it runs, {short_a}" in out
    assert box.inspect()["Id"] == original["Id"]

    code, out = box.apply()

    assert code == 0, out
    new = box.inspect()
    assert new["Image"] == box.images["a"] and new["Config"]["Image"] == box.images["a"]
    assert _env(new)["FLAVOR"] == "a" and _env(new)["FIX"] == "1"
    assert new["Config"]["Labels"].get("rt-img.flavour") == "a"
    assert box.apply("--dry-run")[1].count("no changes") == 1  # pinned: nothing left to do


def test_a_removed_tag_recreates_from_the_image_it_runs(box: Box) -> None:
    box.run()
    box.client.images.remove(TAG, force=True)  # a running container's image: only untagged

    code, out = box.apply()

    assert code == 0, out
    assert f"{TAG} names no image any more" in out
    new = box.inspect()
    assert new["Image"] == box.images["a"] and new["State"]["Running"]


def test_a_gone_image_is_refused_while_planning(box: Box) -> None:
    # A container that does not run does not hold its image: a forced rmi deletes it.
    dockerfile = f"FROM {BUSYBOX}\nLABEL rt-img.once={uuid.uuid4().hex}\n"
    once, _ = box.client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=f"{REPO}:once", rm=True)
    created = box.client.api.create_container(f"{REPO}:once", SLEEP, name=box.name,
                                              labels={TEST_LABEL: str(os.getpid())})
    box.client.images.remove(f"{REPO}:once", force=True)
    assert not any(i.id == once.id for i in box.client.images.list(all=True))

    for args in (("--dry-run",), ()):
        code, out = box.apply(*args)
        assert code == 2, out
        assert f"container {box.name} runs image {once.id[7:19]}, which is no longer on the Docker host" in out
        assert "Traceback" not in out
    assert set(box.ours()) == {box.name} and box.inspect()["Id"] == created["Id"]


def test_a_saved_plan_is_refused_once_the_tag_moved(box: Box, tmp_path: Path) -> None:
    original = box.run()
    plan_file = tmp_path / "plan.json"
    code, out = box.apply("--dry-run", "--out", str(plan_file))
    assert code == 0, out
    box.tag("b")

    code, out = box.remediate("apply", "--plan", str(plan_file), "--yes")

    assert code == 2, out
    assert f"{box.name}: drifted since the plan was saved" in out
    assert set(box.ours()) == {box.name} and box.inspect()["Id"] == original["Id"]


# --------------------------------------------------------------------------- container state

def test_auto_remove_is_refused_up_front(box: Box) -> None:
    original = box.run(host={"auto_remove": True})

    for args in (("--dry-run",), ()):
        code, out = box.apply(*args)
        assert code == 2, out
        assert f"container {box.name} was started with --rm (AutoRemove)" in out
        assert len([line for line in out.splitlines() if "--rm" in line]) == 1
    assert set(box.ours()) == {box.name}
    now = box.inspect()
    assert now["Id"] == original["Id"] and now["State"]["Running"]
    code, out = box.apply()  # nothing was left for `recover`: the engine is not refused
    assert "recover" not in out


def test_paused_stays_paused(box: Box) -> None:
    box.run()
    box.client.api.pause(box.name)

    code, out = box.apply("--dry-run")
    assert code == 0 and "state: paused: the new container is started and paused again" in out, out
    code, out = box.apply()

    assert code == 0, out
    new = box.inspect()
    assert new["State"]["Paused"] and new["State"]["Running"] and _env(new)["FIX"] == "1"
    assert "configured: paused, configured as planned" in out
    backups = [i for n, i in box.ours().items() if n != box.name]
    assert len(backups) == 1 and not backups[0]["State"]["Running"]


@pytest.mark.parametrize("started", [False, True], ids=["created", "exited"])
def test_a_stopped_container_stays_stopped_and_its_configuration_is_verified(box: Box, started: bool) -> None:
    original = box.run(["sh", "-c", "exit 3"], start=started)

    code, out = box.apply("--dry-run")
    status = "exited" if started else "created"
    assert code == 0 and f"state: {status}: the new container is created, not started" in out, out
    code, out = box.apply()

    assert code == 0, out
    new = box.inspect()
    assert new["Id"] != original["Id"] and not new["State"]["Running"] and _env(new)["FIX"] == "1"
    assert "configured: created, configured as planned" in out


#: Exits at start unless FIX=1: a crash the fix repairs (as vLLM's, without a restart policy).
CRASHES = ["sh", "-c", 'test "$FIX" = 1 || exit 3; exec sleep 3600']


def test_a_crashed_container_is_started_by_the_fix_and_verified(box: Box) -> None:
    box.run(CRASHES)

    code, out = box.apply("-e", "start_stopped=true", "--dry-run")
    assert code == 0 and "state: exited (exit code 3): the new container is started (playbook start)" in out, out
    code, out = box.apply("-e", "start_stopped=true")

    assert code == 0, out
    new = box.inspect()
    assert new["State"]["Running"] and _env(new)["FIX"] == "1"


def test_a_failed_start_puts_the_stopped_original_back_as_it_was(box: Box) -> None:
    original = box.run(CRASHES)

    code, out = box.apply("-e", "start_stopped=true", "-e", "fix=2", "--timeout", "5")

    assert code == 1, out
    assert f"restored: the original container {original['Id'][:12]} is back, stopped as before" in out
    assert "runs as before" not in out
    now = box.inspect()
    assert now["Id"] == original["Id"] and now["State"]["Status"] == "exited"
    assert set(box.ours()) == {box.name}


# --------------------------------------------------------------------------- the seed's crashed vLLM

def test_the_seeds_crashed_vllm_is_fixed_started_and_verified(box: Box, tmp_path: Path) -> None:
    # vLLM given a chat template it cannot open exits at start (no restart policy): fix-vllm-404
    # writes and mounts it, starts the server and probes it.
    created = box.client.api.create_container(
        VLLM_IMAGE, [*MODEL_ARGS, "--chat-template", "/etc/vllm/chat_template.jinja"], name=box.name,
        labels={TEST_LABEL: str(os.getpid())}, ports=[8000],
        host_config=box.client.api.create_host_config(port_bindings={8000: ("127.0.0.1", None)}))
    box.client.api.start(created["Id"])
    assert box.client.api.wait(created["Id"], timeout=WAIT)["StatusCode"] != 0
    template = tmp_path / "etc" / "chat_template.jinja"
    args = ("apply", str(PLAYBOOK_404), "--container", box.name, "-e", f"template_host_path={template}", "--yes")

    code, out = box.remediate(*args, "--dry-run")
    assert code == 0 and "the new container is started (playbook start), and verified fully" in out, out
    code, out = box.remediate(*args)

    assert code == 0, out
    assert box.inspect()["State"]["Running"] and "/v1/models" in out
    assert template.read_bytes() == SEED_TEMPLATE.read_bytes()


#: A file mounted over a directory: the new container is created, but cannot start.
UNSTARTABLE = """
name: rt-img-unstartable
description: mounts a file over /etc
vars: {source: /nonexistent}
safety: auto
select: {name: "rt-img-*"}
changes:
  - mount: {source: "{{ source }}", target: /etc}
"""


def test_a_failed_start_puts_a_paused_original_back_paused(box: Box, tmp_path: Path) -> None:
    original = box.run()
    box.client.api.pause(box.name)
    source = tmp_path / "a-file"
    source.write_text("x", encoding="utf-8")
    playbook = tmp_path / "rt-img-unstartable.yml"
    playbook.write_text(UNSTARTABLE, encoding="utf-8")

    code, out = box.remediate("apply", str(playbook), "--container", box.name, "-e", f"source={source}", "--yes")

    assert code == 1, out
    assert f"restored: the original container {original['Id'][:12]} is back, paused as before" in out
    now = box.inspect()
    assert now["Id"] == original["Id"] and now["State"]["Paused"] and now["State"]["Running"]
    assert set(box.ours()) == {box.name}
