"""The template sandbox: internals stay out of reach, runaway templates stop, every failure is
one PlaybookError naming playbook, field and template, raised while planning (pure)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from remediate.core import planner
from remediate.core import playbook as pb
from remediate.core.templating import render_value
from remediate.errors import PlaybookError
from tests import payloads

DATA = Path(__file__).parent / "catalog_data"
pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def vllm() -> planner.Observed:
    data = json.loads((DATA / "vllm.json").read_text())
    return planner.Observed(data["container"], data["image"])


#: Where a template can sit in a playbook: field -> playbook body with TEMPLATE in it.
FIELDS = {
    "changes[0].env.A": "changes:\n  - env: {A: TEMPLATE}\n",
    "changes[0].env": "changes:\n  - env: {TEMPLATE: '1'}\n",
    "changes[0].args.set.--x": "changes:\n  - args: {set: {--x: TEMPLATE}}\n",
    "changes[0].file.content": "changes:\n  - file: {dest: /tmp/sbx-never-written, content: TEMPLATE}\n",
    "changes[0].file.dest": "changes:\n  - file: {dest: TEMPLATE, content: x}\n",
    "changes[0].mount.source": "changes:\n  - mount: {source: TEMPLATE, target: /t}\n",
    "changes[0].network": "changes:\n  - network: TEMPLATE\n",
    "changes[0].platform": "changes:\n  - platform: TEMPLATE\n",
    "verify[0].http.port": "changes:\n  - env: {A: '1'}\nverify:\n  - http: {port: TEMPLATE}\n",
    "verify[0].http.path": "changes:\n  - env: {A: '1'}\nverify:\n  - http: {port: 8000, path: TEMPLATE}\n",
    "verify[0].http.headers.H": "changes:\n  - env: {A: '1'}\nverify:\n  - http: {port: 8000, headers: {H: TEMPLATE}}\n",
    "after": "changes:\n  - env: {A: '1'}\nafter: TEMPLATE\n",
    "revert_after": "changes:\n  - env: {A: '1'}\nrevert_after: TEMPLATE\n",
    "require[0].msg": "changes:\n  - env: {A: '1'}\nrequire:\n  - {that: 'false', msg: TEMPLATE}\n",
    "require[0].that": "changes:\n  - env: {A: '1'}\nrequire:\n  - {that: EXPRESSION, msg: m}\n",
}
HEAD = "name: sbx\ndescription: d\nsafety: auto\nvars: {x: abc}\nselect: {image: 'vllm/*'}\n"


def playbook_text(field: str, template: str) -> str:
    """A playbook with ``template`` in ``field`` (a require condition gets it without braces)."""
    expression = template.removeprefix("{{").removesuffix("}}").strip()
    body = FIELDS[field].replace("TEMPLATE", json.dumps(template)).replace("EXPRESSION", json.dumps(expression))
    return HEAD + body


def plan_text(tmp_path: Path, text: str, obs: planner.Observed, overrides: dict[str, Any] | None = None
              ) -> planner.Plan:
    """Load, resolve and plan a playbook the way a dry run does (host paths: none exist)."""
    path = tmp_path / "p.yml"
    path.write_text(text)
    book = pb.load_playbook(str(path))
    vars = pb.resolve_vars(book, overrides or {})
    planner.host_paths_needed(book, vars, [obs])
    return planner.plan(book, vars, [obs])


def refused(tmp_path: Path, text: str, obs: planner.Observed, overrides: dict[str, Any] | None = None) -> str:
    """The one-line PlaybookError a playbook gets, at load or while planning."""
    with pytest.raises(PlaybookError) as err:
        plan_text(tmp_path, text, obs, overrides)
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize("payload", payloads.ALL, ids=[f"payload{i}" for i in range(len(payloads.ALL))])
def test_every_payload_is_refused_and_runs_nothing(tmp_path: Path, vllm: planner.Observed, payload: str) -> None:
    marker = payloads.pwned_path()
    message = refused(tmp_path, playbook_text("changes[0].env.A", payloads.fill(payload, marker)), vllm)
    assert message.startswith("sbx: changes[0].env.A: "), message
    assert not Path(marker).exists()


@pytest.mark.parametrize("field", sorted(FIELDS))
def test_every_field_is_sandboxed(tmp_path: Path, vllm: planner.Observed, field: str) -> None:
    marker = payloads.pwned_path()
    template = payloads.fill(payloads.INTERNALS[0], marker)
    message = refused(tmp_path, playbook_text(field, template), vllm)
    assert message.startswith(f"sbx: {field}"), message
    assert "unsafe" in message
    assert not Path(marker).exists()


def test_the_error_names_playbook_field_and_template(tmp_path: Path, vllm: planner.Observed) -> None:
    message = refused(tmp_path, playbook_text("changes[0].env.A", "{{ 1/0 }}"), vllm)
    assert message == "sbx: changes[0].env.A: ZeroDivisionError: division by zero (template '{{ 1/0 }}')"


def test_a_long_template_is_shortened_in_the_error(tmp_path: Path, vllm: planner.Observed) -> None:
    message = refused(tmp_path, playbook_text("after", "{{ missing }}" + "x" * 500), vllm)
    assert message.endswith("xxx...')") and len(message) < 200


def test_a_require_that_fails_to_evaluate(tmp_path: Path, vllm: planner.Observed) -> None:
    text = HEAD + "changes:\n  - env: {A: '1'}\nrequire:\n  - {that: '1/0', msg: m}\n"
    assert refused(tmp_path, text, vllm) == ("sbx: require[0].that: ZeroDivisionError: division by zero "
                                             "(template '1/0')")
    text = HEAD + "changes:\n  - env: {A: '1'}\nrequire:\n  - {that: 'nope', msg: m}\n"
    assert "require[0].that: 'nope' is undefined" in refused(tmp_path, text, vllm)


def test_statements_that_build_unchecked_output_are_refused_at_planning(tmp_path: Path,
                                                                       vllm: planner.Observed) -> None:
    message = refused(tmp_path, playbook_text("after", "{% macro m() %}x{% endmacro %}{{ m() }}"), vllm)
    assert "{% macro %} is not allowed in a playbook template" in message


def test_legitimate_templates_still_render() -> None:
    facts = planner.ContainerFacts(name="vllm", image="vllm/vllm-openai:v1", env={"PORT": "8000"},
                                   command=("vllm", "serve", "--port", "9000"))
    context = {"url": "https://GitLab.example.com/", "items": ["a", "b"], "n": 3, "container": facts}
    cases = {
        "{{ container.flag('--port', 8000) }}": "9000",
        "{{ container.env.PORT }}-{{ container.name|upper }}": "8000-VLLM",
        "{{ (url | string).rstrip('/') }}/api/v4/": "https://GitLab.example.com/api/v4/",
        "{{ url | url_host }}": "gitlab.example.com",
        "{% for i in items %}{{ i }}{% if not loop.last %},{% endif %}{% endfor %}": "a,b",
        "{{ items|join(' ') }} {{ n * 2 }} {{ 2 ** 10 }} {{ 'ab' * 2 }} {{ '%05d'|format(n) }}": "a b 6 1024 abab 00003",
        "{% set ns = namespace(s='') %}{% for i in range(3) %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.s }}": "012",
        "{{ 'a-b'.replace('-', '_') }} {{ ('x' ~ n)|center(5) }}": "a_b   x3 ",
        "{{ container.image.split(':')[0].startswith('vllm/') }}": "True",
    }
    for template, expected in cases.items():
        assert render_value(template, context, playbook="p", field="f") == expected, template


def test_a_template_may_build_up_to_the_value_limit() -> None:
    assert len(render_value("{{ 'x' * 1000000 }}", {}, playbook="p", field="f")) == 1_000_000
    with pytest.raises(PlaybookError, match="larger than 1 MiB"):
        render_value("{{ 'x' * 1000000 }}{{ 'y' * 100000 }}", {}, playbook="p", field="f")


@pytest.mark.parametrize(("port", "why"), [("abc", "'abc'"), ("70000", "'70000'"), ("-1", "'-1'"), ("0", "'0'"),
                                           ("", "''"), ("8000.5", "'8000.5'"), ("True", "'True'")])
def test_a_rendered_verify_port_must_be_a_port(tmp_path: Path, vllm: planner.Observed, port: str, why: str) -> None:
    text = HEAD.replace("vars: {x: abc}", "vars: {port: '8000'}") + (
        "changes:\n  - env: {A: '1'}\nverify:\n  - http: {port: '{{ port }}'}\n")
    assert refused(tmp_path, text, vllm, {"port": port}) == (
        f"sbx: verify[0].http.port: port must be a number from 1 to 65535, not {why}")
    assert plan_text(tmp_path, text, vllm, {"port": "65535"}).containers[0].verify[0].port == 65535


@pytest.mark.parametrize("port", ["abc", "70000", "-1", "0", "true", "1e3", "[1]"])
def test_a_literal_verify_port_is_refused_at_load(tmp_path: Path, vllm: planner.Observed, port: str) -> None:
    text = HEAD + f"changes:\n  - env: {{A: '1'}}\nverify:\n  - http: {{port: {port}}}\n"
    message = refused(tmp_path, text, vllm)
    assert message.startswith(f"{tmp_path / 'p.yml'}: verify[0].http.port: ")


@pytest.mark.parametrize(("field", "value"), [
    ("changes[0].file.dest", "chat.jinja"), ("changes[0].file.dest", "./x"), ("changes[0].mount.source", "rel/x"),
    ("changes[0].mount.source", "/a:b"), ("changes[0].mount.target", "etc/x"),
])
def test_a_rendered_path_must_be_absolute(tmp_path: Path, vllm: planner.Observed, field: str, value: str) -> None:
    body = {"changes[0].file.dest": "changes:\n  - file: {dest: '{{ p }}', content: x}\n",
            "changes[0].mount.source": "changes:\n  - mount: {source: '{{ p }}', target: /t}\n",
            "changes[0].mount.target": "changes:\n  - mount: {source: /s, target: '{{ p }}'}\n"}[field]
    text = HEAD.replace("vars: {x: abc}", "vars: {p: /ok}") + body
    message = refused(tmp_path, text, vllm, {"p": value})
    kind = field.split(".")[1]
    assert message.startswith(f"sbx: changes[0].{kind}")
    assert "absolute path" in message or "must not contain ':'" in message


def test_the_catalog_still_refuses_a_relative_template_host_path(vllm: planner.Observed) -> None:
    book = pb.load_playbook("fix-vllm-404")
    vars = pb.resolve_vars(book, {"template_host_path": "chat.jinja"}) if "template_host_path" in book.vars else None
    if vars is None:
        pytest.skip("fix-vllm-404 has no template_host_path var")
    with pytest.raises(PlaybookError, match=r"^fix-vllm-404: changes\[0\]\.file\.dest: dest must be an absolute path"):
        planner.host_paths_needed(book, vars, [vllm])


def test_an_env_name_rendering_to_an_assignment_is_refused(tmp_path: Path, vllm: planner.Observed) -> None:
    message = refused(tmp_path, HEAD + "changes:\n  - env: {'{{ x }}': '2'}\n", vllm, {"x": "A=1"})
    assert message == "sbx: changes[0].env: 'A=1' is not an environment variable name"
