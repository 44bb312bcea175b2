"""Healthcheck timing from inspect data: the container's settings, else the image's, else Docker's."""

from __future__ import annotations

import json
from pathlib import Path

from remediate.core.health import HealthTiming, health_timing

CASES = Path(__file__).resolve().parent.parent / "cases"
S = 1_000_000_000


def _inspect(check: dict[str, object] | None) -> dict[str, object]:
    return {"Config": {"Healthcheck": check}}


def test_docker_defaults_fill_what_is_not_set() -> None:
    timing = health_timing(_inspect({"Test": ["CMD-SHELL", "true"]}), None)
    assert timing == HealthTiming(interval=30.0, timeout=30.0, retries=3, start_period=0.0)
    assert timing.verdict_within == 180.0


def test_the_containers_settings_win_over_the_images() -> None:
    image = _inspect({"Test": ["CMD", "true"], "Interval": 10 * S, "Timeout": 3 * S, "Retries": 5})
    container = _inspect({"Interval": 5 * S, "StartPeriod": 2 * S})
    timing = health_timing(container, image)
    assert timing == HealthTiming(interval=5.0, timeout=3.0, retries=5, start_period=2.0)
    assert timing.verdict_within == 2.0 + 5 * (5.0 + 3.0)
    assert timing.describe() == "start period 2s, 5 retries of interval 5s + timeout 3s"


def test_no_healthcheck_or_none_has_no_timing() -> None:
    assert health_timing(_inspect(None), None) is None
    assert health_timing(_inspect({"Test": ["NONE"]}), _inspect({"Test": ["CMD", "true"]})) is None


def test_a_captured_image_healthcheck_is_read() -> None:
    container = json.loads((CASES / "image-defaults" / "container.json").read_text())
    image = json.loads((CASES / "image-defaults" / "image.json").read_text())
    # HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD ["true"]
    assert health_timing(container, image) == HealthTiming(interval=30.0, timeout=3.0, retries=2, start_period=0.0)
