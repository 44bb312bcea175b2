"""The shipped catalog: every playbook loads, keeps its contract, and plans as intended (pure).

Plans run against inspect JSON captured from the real engine (tests/unit/catalog_data):
``aigw.json`` is a fake AI gateway with auth bypass on, custom models off, port 5052 published
and a secret in its env; ``vllm.json`` is a fake vLLM without a served name or chat template.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from remediate.core import planner
from remediate.core import playbook as pb
from remediate.errors import PlanError, PlaybookError
from remediate.output.plan import plan_json
from tests.conftest import Cli
from tests.integration.test_catalog import CASES, TIME_BOXED

DATA = Path(__file__).parent / "catalog_data"

#: Playbook name -> its contract variables (issue 5); the names are part of the CLI contract.
CONTRACT = {
    "fix-vllm-404": {"served_model_name"},
    "fix-gateway-host-network": {"metrics_port"},
    "fix-image-platform": {"platform"},
    "fix-ssl-ca-bundle": {"ca_bundle", "ca_bundle_target"},
    "fix-streaming-a1003": set(),
    "enable-custom-models": set(),
    "disable-auth-bypass": set(),
    "troubleshoot-mode": {"duration"},
    "fix-gitlab-url": {"gitlab_url"},
    "fix-no-proxy": {"hosts"},
    "fix-offline-portal-urls": {"gitlab_url"},
    "enable-vllm-tool-calling": {"tool_call_parser"},
    "set-vllm-max-model-len": {"max_model_len"},
    "publish-agent-platform-port": {"address", "host_port"},
    "set-gateway-jwt-keys": {"key_dir"},
    "fix-hf-cache": {"mount_target"},
    "fix-tmp-writable": {"tmp_options"},
    "upgrade-gateway": {"version", "repository"},
    "upgrade-vllm": {"tag", "repository"},
}
VLLM_BOOKS = ("fix-vllm-404", "enable-vllm-tool-calling", "set-vllm-max-model-len", "upgrade-vllm")
GATEWAY_BOOKS = sorted(n for n in CONTRACT if n not in (*VLLM_BOOKS, "fix-image-platform"))


def _observed(name: str) -> planner.Observed:
    data = json.loads((DATA / f"{name}.json").read_text())
    return planner.Observed(data["container"], data["image"])


@pytest.fixture(scope="module")
def aigw() -> planner.Observed:
    return _observed("aigw")


@pytest.fixture(scope="module")
def vllm() -> planner.Observed:
    return _observed("vllm")


def _plan(name: str, obs: planner.Observed, overrides: dict[str, Any] | None = None,
          paths: dict[str, planner.HostPath] | None = None, **given: Any) -> planner.Plan:
    book = pb.load_playbook(name)
    vars = pb.resolve_vars(book, overrides or {})
    return planner.plan(book, vars, [obs], host_paths=paths, **given)


def _changes(plan: planner.Plan) -> dict[str, planner.Change]:
    [cp] = plan.containers
    return {c.field: c for c in cp.changes}


# --------------------------------------------------------------------------- the catalog

def test_the_catalog_is_exactly_the_contract() -> None:
    assert {p.stem for p in pb.builtin_playbooks()} == set(CONTRACT)


def test_every_shipped_playbook_has_an_end_to_end_case(cli: Cli) -> None:
    # The end-to-end cases are in tests/integration/test_catalog.py (real engine).
    code, out = cli("list", "--format", "json")

    assert code == 0
    assert {book["name"] for book in json.loads(out)} == set(CASES) | TIME_BOXED


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_playbook_loads_with_contract_vars_and_a_symptom(name: str) -> None:
    book = pb.load_playbook(name)

    assert book.name == name
    assert CONTRACT[name] <= set(book.vars)
    assert '"' in book.description  # quotes the symptom text from the seed
    assert "\n" not in " ".join(book.description.split())


@pytest.mark.parametrize("name", GATEWAY_BOOKS)
def test_gateway_playbooks_select_the_gateway_not_vllm(name: str, aigw: planner.Observed,
                                                       vllm: planner.Observed) -> None:
    book = pb.load_playbook(name)

    assert planner.select(book, [aigw, vllm]) == [aigw]
    assert {s.image for s in book.selectors} >= {"*model-gateway*"}
    assert {s.env for s in book.selectors} >= {"AIGW_*"}


def test_gateway_selector_matches_aigw_env_on_any_image(aigw: planner.Observed) -> None:
    other = json.loads(json.dumps(aigw.inspect))
    other["Config"]["Image"] = "my-mirror/ai-gateway:1"
    book = pb.load_playbook("enable-custom-models")

    assert planner.select(book, [planner.Observed(other, aigw.image)]) != []


@pytest.mark.parametrize("name", GATEWAY_BOOKS)
def test_gateway_playbooks_verify_healthz_on_the_api_port(name: str, aigw: planner.Observed) -> None:
    overrides = {"fix-gitlab-url": {"gitlab_url": "https://gitlab.example.com"},
                 "fix-offline-portal-urls": {"gitlab_url": "https://gitlab.example.com"},
                 "fix-gateway-host-network": {"allow_all_interfaces": "true"},
                 "set-gateway-jwt-keys": {"key_dir": "/k"},
                 "upgrade-gateway": {"version": "18.8.1"}}.get(name, {})
    paths = {"/etc/ssl/certs/ca-certificates.crt": planner.HostPath(True, b"pem", 0o644)}

    plan = _plan(name, aigw, overrides, paths, env_sources=_key_files(), images={UPGRADED: _new_image(aigw)})

    [cp] = plan.containers
    first = cp.verify[0]
    assert (first.port, first.path, first.status) == (5052, "/monitoring/healthz", 200)


def test_verify_port_follows_aigw_fastapi_api_port(aigw: planner.Observed) -> None:
    inspect = json.loads(json.dumps(aigw.inspect))
    inspect["Config"]["Env"] = [e for e in inspect["Config"]["Env"] if not e.startswith("AIGW_FASTAPI__API_PORT=")]
    inspect["Config"]["Env"].append("AIGW_FASTAPI__API_PORT=6000")

    plan = _plan("enable-custom-models", planner.Observed(inspect, aigw.image))

    assert plan.containers[0].verify[0].port == 6000


# --------------------------------------------------------------------------- each playbook

def test_fix_gateway_host_network(aigw: planner.Observed) -> None:
    plan = _plan("fix-gateway-host-network", aigw, ALLOWED)

    changes = _changes(plan)
    assert (changes["network"].before, changes["network"].after) == ("default", "host")
    assert changes["env.AIGW_FASTAPI__METRICS_PORT"].after == "8083"
    [cp] = plan.containers
    assert cp.action == "recreate"
    assert cp.after.host_config["NetworkMode"] == "host" and "PortBindings" not in cp.after.host_config
    assert any("published ports dropped (5052/tcp)" in n for n in cp.notes)
    assert ("exposure (warning): on host networking it listens on every interface of the host, every port it "
            "listens on (before: published only on loopback (5052/tcp)); allowed by allow_all_interfaces") in cp.notes
    view = plan_json(plan)["containers"][0]
    assert "- --publish 127.0.0.1:5052:5052" in view["diff"]
    assert "not-a-real-key" not in json.dumps(view)


def test_fix_gateway_host_network_metrics_port_var(aigw: planner.Observed) -> None:
    assert _changes(_plan("fix-gateway-host-network", aigw, {"metrics_port": "9100", **ALLOWED}))[
        "env.AIGW_FASTAPI__METRICS_PORT"].after == "9100"
    with pytest.raises(PlaybookError, match="metrics_port must be a TCP port"):
        _plan("fix-gateway-host-network", aigw, {"metrics_port": "eighty"})


ALLOWED = {"allow_all_interfaces": "true"}


def _published(aigw: planner.Observed, bindings: dict[str, Any] | None) -> planner.Observed:
    inspect = json.loads(json.dumps(aigw.inspect))
    inspect["HostConfig"]["PortBindings"] = bindings
    return planner.Observed(inspect, aigw.image)


@pytest.mark.parametrize(("bindings", "was"), [
    ({"5052/tcp": [{"HostIp": "127.0.0.1", "HostPort": "5052"}]}, "published only on loopback (5052/tcp)"),
    ({"5052/tcp": [{"HostIp": "::1", "HostPort": "5052"}]}, "published only on loopback (5052/tcp)"),
    ({"5052/tcp": [{"HostIp": "127.0.0.1", "HostPort": "5052"}], "8082/tcp": [{"HostIp": "", "HostPort": "8082"}]},
     "published only on loopback (5052/tcp)"),
    (None, "not published"),
])
def test_host_network_exposing_a_local_only_container_needs_the_var(aigw: planner.Observed,
                                                                    bindings: dict[str, Any] | None, was: str) -> None:
    obs = _published(aigw, bindings)
    with pytest.raises(PlanError, match=r"every interface of the host \(its ports: " + re.escape(was)
                       + r"; .*refused unless -e allow_all_interfaces=true"):
        _plan("fix-gateway-host-network", obs)
    for no in ("false", "no", ""):
        with pytest.raises(PlanError):
            _plan("fix-gateway-host-network", obs, {"allow_all_interfaces": no})

    [cp] = _plan("fix-gateway-host-network", obs, ALLOWED).containers

    assert any(f"(before: {was}); allowed by allow_all_interfaces" in n for n in cp.notes)


def test_host_network_of_a_container_published_everywhere_is_warned_only(aigw: planner.Observed) -> None:
    obs = _published(aigw, {"5052/tcp": [{"HostIp": "0.0.0.0", "HostPort": "5052"}]})

    [cp] = _plan("fix-gateway-host-network", obs).containers

    assert any(n.startswith("exposure (warning): on host networking it listens on every interface") and
               n.endswith("(before: published on every interface)") for n in cp.notes)


def test_fix_image_platform(aigw: planner.Observed, vllm: planner.Observed) -> None:
    same = _plan("fix-image-platform", aigw)
    other = _plan("fix-image-platform", vllm, {"platform": "linux/arm64"})

    assert same.containers[0].action == "none"
    assert _changes(same)["platform"].reason == "image already has this platform"
    assert (_changes(other)["platform"].before, _changes(other)["platform"].after) == ("linux/amd64", "linux/arm64")
    assert planner.select(pb.load_playbook("fix-image-platform"), [aigw, vllm]) == [aigw, vllm]
    with pytest.raises(PlaybookError, match="os/arch"):
        _plan("fix-image-platform", aigw, {"platform": "amd64"})


def test_fix_ssl_ca_bundle(aigw: planner.Observed) -> None:
    paths = {"/srv/ca.pem": planner.HostPath(True, b"pem", 0o644)}

    plan = _plan("fix-ssl-ca-bundle", aigw, {"ca_bundle": "/srv/ca.pem"}, paths)

    changes = _changes(plan)
    assert changes["mount./tmp/ca-certificates.crt"].after == "/srv/ca.pem:/tmp/ca-certificates.crt:ro"
    assert changes["env.SSL_CERT_FILE"].after == "/tmp/ca-certificates.crt"
    assert changes["env.REQUESTS_CA_BUNDLE"].after == "/tmp/ca-certificates.crt"
    book = pb.load_playbook("fix-ssl-ca-bundle")
    assert planner.host_paths_needed(book, pb.resolve_vars(book, {"ca_bundle": "/srv/ca.pem"}), [aigw]) == {"/srv/ca.pem": False}


def test_fix_ssl_ca_bundle_refuses_a_missing_or_relative_bundle(aigw: planner.Observed) -> None:
    with pytest.raises(PlanError, match="/srv/missing.pem does not exist"):
        _plan("fix-ssl-ca-bundle", aigw, {"ca_bundle": "/srv/missing.pem"}, {})
    with pytest.raises(PlaybookError, match="absolute path on the Docker host"):
        _plan("fix-ssl-ca-bundle", aigw, {"ca_bundle": "ca.pem"})


@pytest.mark.parametrize(("name", "key"), [("fix-streaming-a1003", "AIGW_CUSTOM_MODELS__DISABLE_STREAMING"),
                                           ("enable-custom-models", "AIGW_CUSTOM_MODELS__ENABLED")])
def test_env_switches(name: str, key: str, aigw: planner.Observed) -> None:
    change = _changes(_plan(name, aigw))[f"env.{key}"]

    assert change.action == "recreate" and change.after == "true"


def test_disable_auth_bypass(aigw: planner.Observed) -> None:
    plan = _plan("disable-auth-bypass", aigw)

    changes = _changes(plan)
    assert (changes["env.AIGW_AUTH__BYPASS_EXTERNAL"].before, changes["env.AIGW_AUTH__BYPASS_EXTERNAL"].after) == ("true", None)
    assert changes["env.AIGW_AUTH__BYPASS_EXTERNAL_WITH_HEADER"].reason == "already unset"
    assert changes["env.AIGW_AUTH__BYPASS_JWT_SIGNATURE"].reason == "already unset"
    assert [(p.path, p.status) for p in plan.containers[0].verify] == [("/monitoring/healthz", 200), ("/", 401)]


def test_troubleshoot_mode_has_a_bounded_time(aigw: planner.Observed) -> None:
    plan = _plan("troubleshoot-mode", aigw)

    assert plan.revert_after == 900.0
    assert _changes(plan)["env.AIGW_AUTH__BYPASS_EXTERNAL"].reason == "already set"
    assert _plan("troubleshoot-mode", aigw, {"duration": "120"}).revert_after == 120.0
    assert _plan("troubleshoot-mode", aigw, {"duration": "15m"}).revert_after == 900.0
    with pytest.raises(PlaybookError, match="revert_after"):
        _plan("troubleshoot-mode", aigw, {"duration": "0"})


def test_other_plans_have_no_revert(aigw: planner.Observed) -> None:
    assert _plan("enable-custom-models", aigw).revert_after is None


def test_fix_gitlab_url(aigw: planner.Observed) -> None:
    changes = _changes(_plan("fix-gitlab-url", aigw, {"gitlab_url": "https://gitlab.example.com/"}))

    assert changes["env.AIGW_GITLAB_URL"].after == "https://gitlab.example.com"
    assert changes["env.AIGW_GITLAB_API_URL"].after == "https://gitlab.example.com/api/v4/"


@pytest.mark.parametrize(("url", "message"), [
    (None, "set the GitLab URL"),
    ("gitlab.example.com", "not an http"),
    ("http://localhost:8080", "points at localhost"),
    ("https://127.0.0.1/", "points at localhost"),
    ("http://LOCALHOST", "points at localhost"),
    ("http://[::1]:80", "points at localhost"),
])
def test_fix_gitlab_url_refuses(url: str | None, message: str, aigw: planner.Observed) -> None:
    with pytest.raises(PlaybookError, match=message):
        _plan("fix-gitlab-url", aigw, {"gitlab_url": url} if url else {})


def test_fix_gitlab_url_allows_a_host_that_merely_contains_localhost(aigw: planner.Observed) -> None:
    plan = _plan("fix-gitlab-url", aigw, {"gitlab_url": "https://localhost-gitlab.example.com"})

    assert _changes(plan)["env.AIGW_GITLAB_URL"].after == "https://localhost-gitlab.example.com"


# --------------------------------------------------------------------------- schema additions

def _book(tmp_path: Path, extra: str) -> pb.Playbook:
    path = tmp_path / "book.yml"
    path.write_text("name: t\ndescription: d\nvars: {x: 1}\nselect: {name: a}\n"
                    "changes: [{env: {A: b}}]\n" + extra)
    return pb.load_playbook(str(path))


def test_require_false_names_the_rendered_message(tmp_path: Path) -> None:
    book = _book(tmp_path, "require:\n  - that: x > 1\n    msg: 'x is {{ x }}, must be > 1'\n")

    with pytest.raises(PlaybookError, match=r"^t: x is 1, must be > 1$"):
        planner.plan(book, pb.resolve_vars(book, {}), [])
    planner.plan(book, pb.resolve_vars(book, {"x": 2}), [])


def test_require_is_checked_before_host_paths(tmp_path: Path) -> None:
    book = _book(tmp_path, "require: [{that: 'false', msg: nope}]\n")

    with pytest.raises(PlaybookError, match="t: nope"):
        planner.host_paths_needed(book, pb.resolve_vars(book, {}), [])


def test_require_undefined_variable_is_a_playbook_error(tmp_path: Path) -> None:
    book = _book(tmp_path, "require: [{that: 'y', msg: nope}]\n")

    with pytest.raises(PlaybookError, match=r"require\[0\].*'y' is undefined"):
        planner.plan(book, pb.resolve_vars(book, {}), [])


@pytest.mark.parametrize(("extra", "message"), [
    ("require: [{that: 'x >', msg: m}]\n", r"require\[0\]\.that: not a jinja2 expression"),
    ("require: [{that: x}]\n", r"require\[0\]\.msg: Field required"),
    ("revert_after: soon\n", "revert_after: 'soon' is not a duration"),
    ("revert_after: -5\n", "not a positive duration"),
])
def test_schema_additions_are_validated_on_load(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(PlaybookError, match=message):
        _book(tmp_path, extra)


def test_revert_after_literal_forms(tmp_path: Path) -> None:
    for literal, seconds in (("30", 30.0), ("'2m'", 120.0), ("'1.5h'", 5400.0)):
        book = _book(tmp_path, f"revert_after: {literal}\n")
        assert planner.plan(book, {"x": 1}, []).revert_after == seconds


def test_aigw_booleans_are_lowercase() -> None:
    change = pb.EnvChange.model_validate({"env": {"AIGW_A": "True", "AIGW_B": False, "OTHER": "True",
                                                  "AIGW_C": "Truely"}})

    assert change.env == {"AIGW_A": "true", "AIGW_B": "false", "OTHER": "True", "AIGW_C": "Truely"}


def test_a_container_with_capitalised_true_is_normalised(aigw: planner.Observed) -> None:
    inspect = json.loads(json.dumps(aigw.inspect))
    inspect["Config"]["Env"] = [e for e in inspect["Config"]["Env"] if not e.startswith("AIGW_CUSTOM_MODELS__ENABLED")]
    inspect["Config"]["Env"].append("AIGW_CUSTOM_MODELS__ENABLED=True")

    change = _changes(_plan("enable-custom-models", planner.Observed(inspect, aigw.image)))[
        "env.AIGW_CUSTOM_MODELS__ENABLED"]

    assert (change.before, change.after, change.action) == ("True", "true", "recreate")


def test_url_host_filter() -> None:
    assert pb.url_host("https://User@GitLab.Example.com:8443/x") == "gitlab.example.com"
    assert pb.url_host("gitlab.example.com:443") == "gitlab.example.com"
    assert pb.url_host("") == ""


def _with_env(obs: planner.Observed, name: str, value: str | None) -> planner.Observed:
    inspect = json.loads(json.dumps(obs.inspect))
    env = [e for e in inspect["Config"]["Env"] if not e.startswith(f"{name}=")]
    inspect["Config"]["Env"] = env + ([f"{name}={value}"] if value is not None else [])
    return planner.Observed(inspect, obs.image)


def test_a_value_the_image_sets_is_already_in_effect(aigw: planner.Observed) -> None:
    # The self-hosted image sets AIGW_CUSTOM_MODELS__ENABLED=true; the engine merges it in.
    fixed = _with_env(aigw, "AIGW_CUSTOM_MODELS__ENABLED", "true")

    plan = _plan("enable-custom-models", fixed)

    assert plan.containers[0].action == "none"
    assert _changes(plan)["env.AIGW_CUSTOM_MODELS__ENABLED"].reason == "already set (by the image)"


def test_removing_a_variable_the_image_sets_is_a_noop_with_the_reason(aigw: planner.Observed) -> None:
    image = json.loads(json.dumps(aigw.image))
    image["Config"]["Env"].append("AIGW_AUTH__BYPASS_JWT_SIGNATURE=true")
    inspect = json.loads(json.dumps(aigw.inspect))
    inspect["Config"]["Env"].append("AIGW_AUTH__BYPASS_JWT_SIGNATURE=true")

    change = _changes(_plan("disable-auth-bypass", planner.Observed(inspect, image)))[
        "env.AIGW_AUTH__BYPASS_JWT_SIGNATURE"]

    assert change.action == "noop" and "set by the image" in change.reason


# --------------------------------------------------------------------------- today's catalog (issue 25)

def _adding_env(obs: planner.Observed, *env: str) -> planner.Observed:
    inspect = json.loads(json.dumps(obs.inspect))
    inspect["Config"]["Env"] += list(env)
    return planner.Observed(inspect, obs.image)


def test_fix_no_proxy_keeps_the_list_and_adds_gitlab_and_localhost(aigw: planner.Observed) -> None:
    obs = _adding_env(aigw, "HTTPS_PROXY=http://proxy:3128", "NO_PROXY=.corp.example, localhost",
                    "no_proxy=10.0.0.0/8", "AIGW_GITLAB_URL=https://gitlab.example.com")

    changes = _changes(_plan("fix-no-proxy", obs, {"hosts": "vllm.internal,10.0.0.0/8"}))

    expected = ".corp.example,localhost,10.0.0.0/8,gitlab.example.com,127.0.0.1,vllm.internal"
    assert changes["env.NO_PROXY"].after == changes["env.no_proxy"].after == expected
    with pytest.raises(PlaybookError, match="hosts must be host names"):
        _plan("fix-no-proxy", obs, {"hosts": "a b"})


def test_fix_no_proxy_is_a_no_op_once_applied(aigw: planner.Observed) -> None:
    listed = "gitlab.example.com,localhost,127.0.0.1"
    obs = _adding_env(aigw, "AIGW_GITLAB_URL=https://gitlab.example.com", f"NO_PROXY={listed}", f"no_proxy={listed}")

    [cp] = _plan("fix-no-proxy", obs).containers

    assert cp.action == "none"


def test_fix_offline_portal_urls(aigw: planner.Observed) -> None:
    changes = _changes(_plan("fix-offline-portal-urls", aigw, {"gitlab_url": "https://gitlab.example.com/"}))

    assert changes["env.AIGW_CUSTOMER_PORTAL_URL"].after == "https://gitlab.example.com"
    assert changes["env.DUO_WORKFLOW_AUTH__OIDC_CUSTOMER_PORTAL_URL"].after == "https://gitlab.example.com"
    with pytest.raises(PlaybookError, match="not an http"):
        _plan("fix-offline-portal-urls", aigw, {"gitlab_url": "gitlab.example.com"})


def test_enable_vllm_tool_calling_sets_both_flags(vllm: planner.Observed) -> None:
    [cp] = _plan("enable-vllm-tool-calling", vllm, {"tool_call_parser": "mistral"}).containers

    assert cp.action == "recreate"
    args = cp.after.config["Cmd"]
    assert "--enable-auto-tool-choice" in args and args[args.index("--tool-call-parser") + 1] == "mistral"
    assert cp.verify[1].json_body["tool_choice"] == "auto"  # type: ignore[index]
    with pytest.raises(PlaybookError, match="tool_call_parser must name a vLLM parser"):
        _plan("enable-vllm-tool-calling", vllm, {"tool_call_parser": "x; rm -rf /"})


def test_set_vllm_max_model_len(vllm: planner.Observed) -> None:
    [cp] = _plan("set-vllm-max-model-len", vllm).containers

    args = cp.after.config["Cmd"]
    assert args[args.index("--max-model-len") + 1] == "17776"
    assert cp.verify[0].contains == '"max_model_len":17776'
    with pytest.raises(PlaybookError, match="max_model_len must be a number"):
        _plan("set-vllm-max-model-len", vllm, {"max_model_len": "lots"})


# --------------------------------------------------------------------------- the fixes of issue 25's checks

REPO = "registry.gitlab.com/gitlab-org/modelops/applied-ml/code-suggestions/ai-assist/model-gateway"
UPGRADED = f"{REPO}:self-hosted-v18.8.1-ee"
KEY_FILES = ("aigw_signing.key", "aigw_validation.key", "duo_workflow_jwt.key", "duo_workflow_validation.key")
KEY_VARS = ("AIGW_SELF_SIGNED_JWT__SIGNING_KEY", "AIGW_SELF_SIGNED_JWT__VALIDATION_KEY",
            "DUO_WORKFLOW_SELF_SIGNED_JWT__SIGNING_KEY", "DUO_WORKFLOW_SELF_SIGNED_JWT__VALIDATION_KEY")


def _key_files(folder: str = "/k") -> dict[str, planner.HostPath]:
    return {f"{folder}/{name}": planner.HostPath(True, f"-----BEGIN PRIVATE KEY-----\nkey{i}body\n"
                                                       "-----END PRIVATE KEY-----\n".encode())
            for i, name in enumerate(KEY_FILES)}


def _new_image(obs: planner.Observed) -> dict[str, Any]:
    """The image of ``obs`` as another build (another id): the image an upgrade moves to."""
    image = json.loads(json.dumps(obs.image))
    image["Id"] = "sha256:" + "e" * 64
    return dict(image)


def _inspect(obs: planner.Observed, **host_config: Any) -> planner.Observed:
    inspect = json.loads(json.dumps(obs.inspect))
    inspect["HostConfig"].update(host_config)
    return planner.Observed(inspect, obs.image)


def test_publish_agent_platform_port_on_loopback_by_default(aigw: planner.Observed) -> None:
    [cp] = _plan("publish-agent-platform-port", aigw).containers

    assert cp.action == "recreate"
    assert cp.after.host_config["PortBindings"]["50052/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": "50052"}]
    assert cp.after.host_config["PortBindings"]["5052/tcp"] == aigw.inspect["HostConfig"]["PortBindings"]["5052/tcp"]
    assert "50052/tcp" in cp.after.config["ExposedPorts"]


def test_publish_agent_platform_port_follows_port_and_the_vars(aigw: planner.Observed) -> None:
    obs = _adding_env(aigw, "PORT=50099")

    [cp] = _plan("publish-agent-platform-port", obs, {"address": "::1", "host_port": "6000"}).containers

    assert cp.after.host_config["PortBindings"]["50099/tcp"] == [{"HostIp": "::1", "HostPort": "6000"}]
    published = _inspect(aigw, PortBindings={**aigw.inspect["HostConfig"]["PortBindings"],
                                             "50052/tcp": [{"HostIp": "127.0.0.1", "HostPort": "50052"}]})
    assert _plan("publish-agent-platform-port", published).containers[0].action == "none"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"address": "0.0.0.0"}, "is every interface of the host"),
    ({"address": "::"}, "is every interface of the host"),
    ({"host_port": "70000"}, "host_port must be a TCP port"),
    ({"address": "gitlab.example.com"}, r"'gitlab.example.com:50052:50052' is not \[host_ip:\]"),
])
def test_publish_agent_platform_port_refuses(overrides: dict[str, str], message: str, aigw: planner.Observed) -> None:
    with pytest.raises(PlaybookError, match=message):
        _plan("publish-agent-platform-port", aigw, overrides)


def test_set_gateway_jwt_keys_from_the_key_files(aigw: planner.Observed) -> None:
    plan = _plan("set-gateway-jwt-keys", aigw, {"key_dir": "/etc/aigw/keys/"}, env_sources=_key_files("/etc/aigw/keys"))

    [cp] = plan.containers
    assert [cp.after.env[name] for name in KEY_VARS] == [
        f"-----BEGIN PRIVATE KEY-----\nkey{i}body\n-----END PRIVATE KEY-----" for i in range(4)]
    assert cp.after.env["DUO_WORKFLOW_AUTH__ENABLED"] == "true"
    assert set(KEY_VARS) <= set(cp.secret_env)
    view = json.dumps(plan_json(plan))
    assert "body" not in view and "BEGIN PRIVATE KEY" not in view
    book = pb.load_playbook("set-gateway-jwt-keys")
    assert planner.env_files_needed(book, pb.resolve_vars(book, {"key_dir": "/k"}), [aigw]) == list(_key_files())


@pytest.mark.parametrize("key_dir", [None, "keys", ""])
def test_set_gateway_jwt_keys_needs_an_absolute_key_dir(key_dir: str | None, aigw: planner.Observed) -> None:
    with pytest.raises(PlaybookError, match="set key_dir, the absolute path of the directory"):
        _plan("set-gateway-jwt-keys", aigw, {"key_dir": key_dir} if key_dir is not None else {})


def test_fix_hf_cache_removes_the_mount_over_the_cache(aigw: planner.Observed) -> None:
    obs = _inspect(aigw, Binds=["hfcache:/home/aigateway/.hf", "/srv/logs:/var/log/aigw"])

    change = _changes(_plan("fix-hf-cache", obs))["mount./home/aigateway/.hf"]

    assert (change.before, change.after, change.action) == ("hfcache:/home/aigateway/.hf", None, "recreate")
    [cp] = _plan("fix-hf-cache", obs).containers
    assert cp.after.host_config["Binds"] == ["/srv/logs:/var/log/aigw"]
    assert _changes(_plan("fix-hf-cache", aigw))["mount./home/aigateway/.hf"].reason == "not mounted"


def test_fix_hf_cache_follows_hf_home_and_mount_target(aigw: planner.Observed) -> None:
    obs = _adding_env(_inspect(aigw, Binds=["/srv/hf:/cache/hf", "/srv/home:/home/aigateway"]), "HF_HOME=/cache/hf")

    assert "mount./cache/hf" in _changes(_plan("fix-hf-cache", obs))
    assert "mount./home/aigateway" in _changes(_plan("fix-hf-cache", obs, {"mount_target": "/home/aigateway"}))
    with pytest.raises(PlaybookError, match="mount_target must be an absolute path"):
        _plan("fix-hf-cache", obs, {"mount_target": "home"})


def test_fix_tmp_writable_mounts_a_tmpfs_any_user_can_write(aigw: planner.Observed) -> None:
    obs = _inspect(aigw, ReadonlyRootfs=True)

    [cp] = _plan("fix-tmp-writable", obs).containers

    assert cp.after.host_config["Tmpfs"] == {"/tmp": "rw,nosuid,nodev,mode=1777,size=512m"}
    assert cp.after.host_config["ReadonlyRootfs"] is True
    done = _inspect(obs, Tmpfs={"/tmp": "size=512m,mode=1777,rw,nosuid,nodev"})
    assert _plan("fix-tmp-writable", done).containers[0].action == "none"


def test_upgrade_gateway_to_the_tag_of_a_version_in_the_same_repository(aigw: planner.Observed) -> None:
    plan = _plan("upgrade-gateway", aigw, {"version": "v18.8.1"}, images={UPGRADED: _new_image(aigw)})

    [cp] = plan.containers
    assert cp.image == UPGRADED and cp.action == "recreate"
    assert cp.after.host_config["PortBindings"] == aigw.inspect["HostConfig"]["PortBindings"]
    assert plan.after_message is not None and "self-hosted-v18.8.1-ee" in plan.after_message
    mirror = "mirror.example:5000/ai/model-gateway"
    other = _plan("upgrade-gateway", aigw, {"version": "18.8.1", "repository": mirror}, images={})
    assert other.containers[0].image == f"{mirror}:self-hosted-v18.8.1-ee"


@pytest.mark.parametrize("version", [None, "18.8", "latest", "18.8.1-ee", "18.8.x"])
def test_upgrade_gateway_needs_a_release(version: str | None, aigw: planner.Observed) -> None:
    with pytest.raises(PlaybookError, match="version must be a gateway release X.Y.Z"):
        _plan("upgrade-gateway", aigw, {"version": version} if version else {})


def test_upgrade_vllm_keeps_the_flags_and_verifies_the_version(vllm: planner.Observed) -> None:
    new = "vllm/vllm-openai:v0.18.1"

    [cp] = _plan("upgrade-vllm", vllm, {"tag": "0.18.1"}, images={new: _new_image(vllm)}).containers

    assert cp.image == new and cp.after.config["Cmd"] == vllm.inspect["Config"]["Cmd"]
    assert [(v.path, v.contains) for v in cp.verify] == [("/health", None), ("/version", '"0.18.1')]


def test_upgrade_vllm_refuses_what_gitlab_does_not_support(vllm: planner.Observed) -> None:
    from remediate.packs.gitlab_duo.vllm_profile import VERSION_FLOOR

    major, minor, patch = VERSION_FLOOR
    _plan("upgrade-vllm", vllm, {"tag": f"v{major}.{minor}.{patch}"}, images={})
    _plan("upgrade-vllm", vllm, {"tag": f"v{major}.{minor + 1}.0"}, images={})
    with pytest.raises(PlaybookError, match=f"is older than v{major}.{minor}.{patch}, the oldest"):
        _plan("upgrade-vllm", vllm, {"tag": f"v{major}.{minor}.{patch - 1}"}, images={})
    for tag in (None, "latest", "v0.18", "nightly-abc"):
        with pytest.raises(PlaybookError, match="tag must be a vLLM release tag"):
            _plan("upgrade-vllm", vllm, {"tag": tag} if tag else {})
