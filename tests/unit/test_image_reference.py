"""Selectors match an image however its reference is written: familiar or fully qualified (pure)."""

from __future__ import annotations

import pytest

from remediate.core.image_ref import familiar, image_matches
from remediate.core.playbook import Selector


@pytest.mark.parametrize(("reference", "short"), [
    ("vllm/vllm-openai:v0.6.3", "vllm/vllm-openai:v0.6.3"),
    ("docker.io/vllm/vllm-openai:v0.6.3", "vllm/vllm-openai:v0.6.3"),
    ("index.docker.io/vllm/vllm-openai", "vllm/vllm-openai"),
    ("registry-1.docker.io/vllm/vllm-openai@sha256:" + "ab" * 32, "vllm/vllm-openai@sha256:" + "ab" * 32),
    ("docker.io/library/nginx:1", "nginx:1"),
    ("library/nginx", "nginx"),
    ("registry.gitlab.com/org/model-gateway:v1", "registry.gitlab.com/org/model-gateway:v1"),
    ("localhost:5000/library/nginx", "localhost:5000/library/nginx"),
])
def test_familiar_form(reference: str, short: str) -> None:
    assert familiar(reference) == short


@pytest.mark.parametrize("image", ["vllm/vllm-openai:v0.6.3", "docker.io/vllm/vllm-openai:v0.6.3",
                                   "index.docker.io/vllm/vllm-openai:latest", "registry-1.docker.io/vllm/vllm-openai"])
@pytest.mark.parametrize("pattern", ["vllm/vllm-openai*", "docker.io/vllm/vllm-openai*",
                                     "index.docker.io/vllm/vllm-openai*"])
def test_one_image_however_written(image: str, pattern: str) -> None:
    assert image_matches(image, pattern)


def test_library_images_and_other_registries() -> None:
    assert image_matches("docker.io/library/nginx:1", "nginx*")
    assert image_matches("nginx", "docker.io/library/nginx*")
    assert image_matches("nginx:1", "library/nginx:*")
    assert image_matches("registry.gitlab.com/a/model-gateway:x", "*model-gateway*")
    assert not image_matches("myreg.io/vllm/vllm-openai:1", "vllm/vllm-openai*")
    assert not image_matches("localhost:5000/vllm/vllm-openai", "vllm/vllm-openai*")
    assert not image_matches("ghcr.io/x/nginx", "nginx*")


def test_selector_uses_the_normalised_reference() -> None:
    sel = Selector.model_validate({"image": "vllm/vllm-openai*"})
    assert sel.matches(image="docker.io/vllm/vllm-openai:v0.6.3", name="v", labels={}, command="", env_names=[])
    assert not sel.matches(image="docker.io/other/vllm-openai", name="v", labels={}, command="", env_names=[])


def test_no_tag_is_latest() -> None:
    assert image_matches("nginx", "nginx:latest")
    assert image_matches("docker.io/library/nginx:latest", "nginx")
    assert image_matches("vllm/vllm-openai", "docker.io/vllm/vllm-openai:latest")
    assert not image_matches("nginx:1", "nginx")
    assert not image_matches("nginx@sha256:ab", "nginx:latest")


def test_the_built_in_vllm_selector_finds_a_fully_qualified_vllm() -> None:
    from remediate.core.planner import Observed, selected
    from remediate.packs.gitlab_duo.diagnose import VLLM_SELECTORS

    inspect = {"Id": "a" * 64, "Name": "/v", "Config": {"Image": "docker.io/vllm/vllm-openai:v0.18.1", "Cmd": ["--model", "m"]}}
    assert selected(VLLM_SELECTORS, Observed(inspect))


@pytest.mark.parametrize(("reference", "repository"), [
    ("vllm/vllm-openai:v0.6.3", "vllm/vllm-openai"),
    ("localhost:5000/ai/model-gateway:self-hosted-v18.0.0-ee", "localhost:5000/ai/model-gateway"),
    ("nginx", "nginx"),
    ("docker.io/library/nginx:1", "docker.io/library/nginx"),
    ("repo@sha256:" + "a" * 64, "repo"),
])
def test_image_repo_filter_keeps_the_repository_as_written(reference: str, repository: str) -> None:
    from remediate.core.image_ref import repository as image_repo
    from remediate.core.templating import render_value

    assert image_repo(reference) == repository
    assert render_value("{{ ref | image_repo }}:v2", {"ref": reference}, playbook="p", field="f") == f"{repository}:v2"


def test_image_repo_of_an_image_id_is_one_line() -> None:
    from remediate.core.templating import render_value
    from remediate.errors import PlaybookError

    with pytest.raises(PlaybookError, match="is an image id, not a reference"):
        render_value("{{ ref | image_repo }}", {"ref": "sha256:" + "b" * 64}, playbook="p", field="f")


def test_an_image_id_is_matched_as_written_and_hub_aliases_are_one_registry() -> None:
    from remediate.core.image_ref import same_reference

    assert image_matches("sha256:" + "a" * 64, "sha256:*")
    assert image_matches("registry-1.docker.io/library/nginx", "nginx")
    assert same_reference("registry-1.docker.io/library/nginx:1", "nginx:1")
