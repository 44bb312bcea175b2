"""The ``image`` change (an upgrade by faithful recreate) on both engines (20.10 and 26.1), with
the real ``remediate`` process on the engine's host: two locally built tags of a test image
(tests/lab/upgrade_image.py), a tag that cannot start, and a registry on 127.0.0.1 started by the
test (tests/lab/registry.py), with and without credentials.

Upgrade: the new container runs the new image's id; what the old image supplied and the user
never set (env, workdir, command) comes from the new image, the user's env stays; the dry run
changes nothing; a second run is a no-op; rollback returns to the old image's container. A
failing new image puts the original back (same id). A tag the registry lacks, or credentials it
refuses, is one line and exit 2 before anything stops. A dry run never pulls; an apply pulls
through the engine (progress on stderr), with the registry credentials of the docker config
(``DOCKER_CONFIG``) when it needs them. A saved plan is refused once its tag names another image.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OWNER_LABELS, TEST_LABEL
from tests.integration._proc import REMEDIATE, remediate_env
from tests.lab.engines import Engine
from tests.lab.registry import Registry, registry
from tests.lab.stall_proxy import stalling
from tests.lab.upgrade_image import BUSYBOX, DOCKERFILES

REPO = "rt-upgrade/app"
PREFIX = "rt-upg-"
PLAYBOOK = """\
name: upgrade-app
description: Upgrade the test app to another image.
safety: auto
vars:
  image: rt-upgrade/app:2
select:
  name: "rt-upg-*"
changes:
  - image: "{{ image }}"
"""
WAIT = 180.0


@pytest.fixture(scope="module")
def tags(engine: Engine) -> Iterator[Engine]:
    """The test image's tags built on the engine (removed at the end)."""
    for tag, dockerfile in DOCKERFILES.items():
        engine.run(["docker", "build", "-q", "-t", f"{REPO}:{tag}", "-"], input=dockerfile, check=True,
                   env={**os.environ, "DOCKER_BUILDKIT": "0"})  # the classic builder: no buildx here
    yield engine
    engine.run(["docker", "rmi", *(f"{REPO}:{tag}" for tag in DOCKERFILES)])


class App:
    """A container of tag 1 (user-set env and label), and remediate run against it."""

    def __init__(self, engine: Engine, tmp_path: Path) -> None:
        self.engine, self.tmp = engine, tmp_path
        self.name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
        self.playbook = tmp_path / "upgrade-app.yml"
        self.playbook.write_text(PLAYBOOK)
        self.state_dir = str(tmp_path / "state")
        labels = [a for k, v in OWNER_LABELS.items() for a in ("--label", f"{k}={v}")]
        engine.run(["docker", "run", "-d", "--name", self.name, *labels, "--label", "mine=1", "-e", "GREETING=mine",
                    "--restart", "unless-stopped", f"{REPO}:1"], check=True)

    def inspect(self, ref: str | None = None) -> dict[str, Any]:
        out = self.engine.run(["docker", "inspect", ref or self.name], check=True).stdout
        return dict(json.loads(out)[0])

    def image_id(self, ref: str) -> str | None:
        proc = self.engine.run(["docker", "image", "inspect", "--format", "{{.Id}}", ref])
        return proc.stdout.strip() if proc.returncode == 0 else None

    def remediate(self, *args: str, **env: str) -> tuple[int, str, str]:
        proc = self.engine.run([REMEDIATE, *args], env=remediate_env(self.state_dir, **env), timeout=WAIT)
        return proc.returncode, proc.stdout, proc.stderr

    def apply(self, image: str, *extra: str, **env: str) -> tuple[int, str, str]:
        return self.remediate("apply", str(self.playbook), "--container", self.name, "-e", f"image={image}",
                              "--yes", "--timeout", "20", *extra, **env)

    def ours(self) -> list[str]:
        out = self.engine.run(["docker", "ps", "-a", "--format", "{{.Names}}", "--filter",
                               f"label={TEST_LABEL}={OWNER_LABELS[TEST_LABEL]}"], check=True).stdout
        return sorted(n for n in out.split() if n.startswith(self.name))


@pytest.fixture
def app(tags: Engine, tmp_path: Path) -> Iterator[App]:
    a = App(tags, tmp_path)
    try:
        yield a
    finally:
        names = a.ours()
        if names:
            a.engine.run(["docker", "rm", "-f", "-v", *names])


@pytest.fixture
def open_registry(tags: Engine, tmp_path: Path) -> Iterator[Registry]:
    with registry(tags, tmp_path / "registry") as reg:
        yield reg


def _env(inspect: dict[str, Any]) -> dict[str, str]:
    return dict(e.split("=", 1) for e in inspect["Config"]["Env"])


def test_upgrade_rederives_image_defaults_keeps_user_settings_and_rolls_back(app: App) -> None:
    before = app.inspect()
    old_id, new_id = app.image_id(f"{REPO}:1"), app.image_id(f"{REPO}:2")

    code, out, err = app.apply(f"{REPO}:2", "--dry-run")
    assert code == 0, out + err
    assert "~ env.APP_VERSION: 1 -> 2 (supplied by the image: re-derived from the new one)" in out
    assert "~ workdir: /v1 -> /v2" in out
    assert "= env.GREETING: set by the user: kept on the new image" in out
    assert "+ rt-upgrade/app:2" in out and "Dry run: nothing changed" in out
    assert app.inspect()["Id"] == before["Id"] and app.ours() == [app.name]

    code, out, err = app.apply(f"{REPO}:2")
    assert code == 0, out + err
    after = app.inspect()
    assert after["Id"] != before["Id"]
    assert (after["Image"], after["Config"]["Image"]) == (new_id, f"{REPO}:2")
    env = _env(after)
    assert (env["APP_VERSION"], env["APP_NEW"], env["GREETING"]) == ("2", "yes", "mine")
    assert after["Config"]["WorkingDir"] == "/v2"
    assert after["Config"]["Cmd"] == ["sh", "-c", "echo v2; exec sleep 3600"]
    assert after["Config"]["Labels"]["mine"] == "1" and after["Config"]["Labels"]["org.example.version"] == "2"
    assert after["HostConfig"]["RestartPolicy"] == before["HostConfig"]["RestartPolicy"]
    assert after["State"]["Running"]

    code, out, err = app.apply(f"{REPO}:2")
    assert code == 0 and "already runs rt-upgrade/app:2" in out, out + err
    assert app.inspect()["Id"] == after["Id"]

    code, out, err = app.remediate("rollback", app.name, "--yes")
    assert code == 0, out + err
    restored = app.inspect()
    assert (restored["Id"], restored["Image"]) == (before["Id"], old_id)
    assert _env(restored)["APP_VERSION"] == "1" and restored["State"]["Running"]


def test_a_new_image_that_fails_verify_leaves_the_original_container(app: App) -> None:
    before = app.inspect()

    code, out, err = app.apply(f"{REPO}:broken")

    assert code == 1, out + err
    assert "cannot start" in out  # the new container's last log line, kept before it was removed
    now = app.inspect()
    assert (now["Id"], now["Image"], now["State"]["Running"]) == (before["Id"], before["Image"], True)
    assert now["HostConfig"]["RestartPolicy"] == before["HostConfig"]["RestartPolicy"]
    assert app.ours() == [app.name]


def test_a_tag_the_registry_lacks_is_refused_before_anything_stops(app: App, open_registry: Registry) -> None:
    before = app.inspect()

    code, out, err = app.apply(f"{open_registry.address}/{REPO}:nope")

    assert code == 2, out + err
    [line] = [x for x in (out + err).splitlines() if x.startswith("remediate: ")]  # the error: one line
    assert "manifest unknown" in line or "not found" in line, line
    now = app.inspect()
    assert (now["Id"], now["State"]["StartedAt"]) == (before["Id"], before["State"]["StartedAt"])
    assert app.ours() == [app.name]


#: A tag whose one layer the engine has nowhere else: its pull must fetch that blob.
STALLING = f"""\
FROM {BUSYBOX}
RUN head -c 1048576 /dev/urandom > /noise
"""


@pytest.mark.timeout(240)
@pytest.mark.parametrize("at", ["layer", "manifest"])
def test_a_pull_that_stalls_is_aborted_in_one_line_nothing_changed(app: App, open_registry: Registry, at: str) -> None:
    # mid-layer, or before the registry sends any header: the engine then has said nothing either
    before = app.inspect()
    image = f"rt-stall/app:{uuid.uuid4().hex[:8]}"
    app.engine.run(["docker", "build", "-q", "-t", image, "-"], input=STALLING, check=True,
                   env={**os.environ, "DOCKER_BUILDKIT": "0"})
    open_registry.push(app.engine, image)
    app.engine.run(["docker", "rmi", image], check=True)  # its layer is now only in the registry
    with stalling(app.engine, open_registry.address, at) as proxy:
        ref = f"{proxy.address}/{image}"
        started = time.monotonic()
        code, out, err = app.apply(ref, "--pull-stall", "3")
        took = time.monotonic() - started

        assert code == 2, out + err
        assert proxy.wait_for(f"stalled /v2/rt-stall/app/{'blobs' if at == 'layer' else 'manifests'}/", 0)
        [line] = [x for x in (out + err).splitlines() if x.startswith("remediate: ")]  # the error: one line
        assert f"pull {ref}: stalled: no progress for 3 s from registry {proxy.address}" in line, line
        assert "Traceback" not in out + err
        assert took < 60, took  # the stall bound, not the engine's own (it has none)
    now = app.inspect()
    assert (now["Id"], now["State"]["StartedAt"]) == (before["Id"], before["State"]["StartedAt"])
    assert app.ours() == [app.name]
    assert app.image_id(ref) is None


def test_a_dry_run_never_pulls_an_apply_pulls_through_the_engine(app: App, open_registry: Registry) -> None:
    ref = open_registry.push(app.engine, f"{REPO}:2")
    assert app.image_id(ref) is None
    try:
        code, out, err = app.apply(ref, "--dry-run")
        assert code == 0, out + err
        assert f"image: {ref} is not on the Docker host: an apply pulls it" in out
        assert app.image_id(ref) is None

        code, out, err = app.apply(ref)
        assert code == 0, out + err
        assert "pull: " in err and "pull: " not in out  # the pull's progress, on stderr
        after = app.inspect()
        assert after["Config"]["Image"] == ref and after["Image"] == app.image_id(f"{REPO}:2")
        assert _env(after)["GREETING"] == "mine"
    finally:
        app.engine.run(["docker", "rmi", ref])  # the pulled tag (the image keeps its own)


def test_the_python_api_pulls_only_when_asked(app: App, open_registry: Registry,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from remediate.core.playbook import load_playbook
    from remediate.errors import PlanError
    from remediate.executor.apply import apply
    from remediate.executor.observe import plan_host
    from remediate.host.connection import Connection

    monkeypatch.setenv("REMEDIATE_STATE_DIR", app.state_dir)
    ref = open_registry.push(app.engine, f"{REPO}:2")
    book = load_playbook(str(app.playbook))
    before = app.inspect()
    try:
        with Connection(app.engine.docker_url) as conn:
            unpulled = plan_host(conn, book, {"image": ref}, only=[app.name])
            assert app.image_id(ref) is None
            with pytest.raises(PlanError, match=f"{ref} was not on the host when the plan was made"):
                apply(unpulled, conn)
            assert app.inspect()["Id"] == before["Id"]

            lines: list[str] = []
            pulled = plan_host(conn, book, {"image": ref}, only=[app.name], pull=True, on_pull=lines.append)
            assert lines and pulled.containers[0].after.image_id == app.image_id(ref)
            result = apply(pulled, conn, timeout=20)
        assert result.ok, result
        assert app.inspect()["Config"]["Image"] == ref
    finally:
        app.engine.run(["docker", "rmi", ref])


def test_a_registry_that_needs_credentials_gets_those_of_the_docker_config(app: App, tmp_path: Path) -> None:
    config = tmp_path / "docker-config"
    config.mkdir()
    with registry(app.engine, tmp_path / "auth-registry", users={"ci": "s3cret-pass"}) as reg:
        reg.login(app.engine, config, "ci", "s3cret-pass")
        ref = reg.push(app.engine, f"{REPO}:2", config=config)
        before = app.inspect()

        empty = tmp_path / "empty-config"
        empty.mkdir()
        code, out, err = app.apply(ref, DOCKER_CONFIG=str(empty))
        assert code == 2, out + err
        assert "no basic auth credentials" in out + err or "unauthorized" in out + err
        assert "s3cret-pass" not in out + err
        assert app.inspect()["Id"] == before["Id"] and app.image_id(ref) is None

        code, out, err = app.apply(ref, DOCKER_CONFIG=str(config))
        try:
            assert code == 0, out + err
            assert app.inspect()["Config"]["Image"] == ref
            assert "s3cret-pass" not in out + err
        finally:
            app.engine.run(["docker", "rmi", ref])


def test_a_saved_plan_is_refused_once_its_tag_names_another_image(app: App, tmp_path: Path) -> None:
    saved = tmp_path / "plan.json"
    moved = f"{REPO}:moved"
    app.engine.run(["docker", "tag", f"{REPO}:2", moved], check=True)
    try:
        code, out, err = app.apply(moved, "--dry-run", "--out", str(saved))
        assert code == 0, out + err
        planned = json.loads(saved.read_text())["hosts"][0]["plan"]["containers"][0]["image"]
        assert (planned["to"], planned["to_id"]) == (moved, app.image_id(f"{REPO}:2"))
        app.engine.run(["docker", "tag", f"{REPO}:broken", moved], check=True)
        before = app.inspect()

        code, out, err = app.remediate("apply", str(app.playbook), "--plan", str(saved), "--yes")

        assert code == 2, out + err
        assert f"{moved} names another image now" in out + err
        assert app.inspect()["Id"] == before["Id"] and app.ours() == [app.name]
        # Back where it was reviewed: the same saved plan applies.
        app.engine.run(["docker", "tag", f"{REPO}:2", moved], check=True)
        code, out, err = app.remediate("apply", str(app.playbook), "--plan", str(saved), "--yes")
        assert code == 0, out + err
        assert app.inspect()["Image"] == app.image_id(f"{REPO}:2")
    finally:
        app.engine.run(["docker", "rmi", moved])


COMPOSE = """\
services:
  app:
    image: rt-upgrade/app:1   # the app's release
    environment:
      GREETING: mine
    labels:
      {label}: "{owner}"
"""


def test_a_compose_service_gets_its_image_line_and_compose_up_leaves_it(tags: Engine, tmp_path: Path) -> None:
    if tags.netns is not None or tags.run(["docker", "compose", "version", "--short"]).returncode != 0:
        pytest.skip("Compose v2 (the docker compose plugin) is on the local engine's host")
    project = f"rtupg{uuid.uuid4().hex[:8]}"
    directory = tmp_path / "stack"
    directory.mkdir()
    compose_file = directory / "compose.yml"
    compose_file.write_text(COMPOSE.format(label=TEST_LABEL, owner=OWNER_LABELS[TEST_LABEL]))
    playbook = tmp_path / "upgrade-app.yml"
    playbook.write_text(PLAYBOOK.replace('name: "rt-upg-*"', f'name: "{project}-*"'))

    def compose(*args: str) -> str:
        return tags.run(["docker", "compose", "-p", project, "-f", str(compose_file), *args], check=True,
                        timeout=WAIT).stdout

    try:
        compose("up", "-d")
        [name] = compose("ps", "-a", "--format", "{{.Name}}").split()
        proc = tags.run([REMEDIATE, "apply", str(playbook), "--container", name, "-e", f"image={REPO}:2", "--yes",
                         "--timeout", "20"], env=remediate_env(str(tmp_path / "state")), timeout=WAIT)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "leaves every container of" in proc.stdout, proc.stdout
        assert compose_file.read_text() == COMPOSE.format(label=TEST_LABEL, owner=OWNER_LABELS[TEST_LABEL]).replace(
            "rt-upgrade/app:1   #", "rt-upgrade/app:2   #")
        fixed = json.loads(tags.run(["docker", "inspect", name], check=True).stdout)[0]
        assert fixed["Config"]["Image"] == f"{REPO}:2"

        compose("up", "-d")

        [again] = compose("ps", "-a", "-q").split()
        assert fixed["Id"].startswith(again)
    finally:
        tags.run(["docker", "compose", "-p", project, "-f", str(compose_file), "down"], timeout=WAIT)
        out = tags.run(["docker", "ps", "-aq", "--filter", f"label={TEST_LABEL}={OWNER_LABELS[TEST_LABEL]}",
                        "--filter", f"label=remediate.disarmed.com.docker.compose.project={project}"]).stdout.split()
        if out:
            tags.run(["docker", "rm", "-f", *out])
