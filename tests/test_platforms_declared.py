"""The platform list is declared once (core.domain.catalog.Platform); everything per platform follows it.

A new platform costs its member in the enum, one adapter file, one emulator module, one test file and its
limits rows; each check below names what is missing, so adding a platform half-way fails here first.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from core.platforms.base import PlatformAdapter
from core.domain.catalog import Platform
from core.rules.limits import LIMITS, limits_for
from core.platforms.registry import ADAPTERS, adapter_class, supported_platforms
from core.infra.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PLATFORMS = list(Platform)


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_every_declared_platform_has_an_adapter_file_in_the_registry_map(platform):
    assert (ROOT / "core" / "platforms" / f"{platform.value}.py").is_file(), f"core/platforms/{platform}.py"
    cls = ADAPTERS.get(platform)
    assert cls is not None, f"core.platforms.registry.ADAPTERS has no adapter for {platform}"
    assert issubclass(cls, PlatformAdapter) and cls.platform is platform
    assert cls.__module__ == f"core.platforms.{platform.value}"
    assert adapter_class(platform.value) is cls and adapter_class(platform.label) is cls


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_every_declared_platform_has_its_limits_rows(platform):
    assert platform in LIMITS, f"core.rules.limits.LIMITS has no row for {platform}"
    assert limits_for(platform.value).platform is platform


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_every_declared_platform_has_an_emulator_module(platform):
    sandbox_platforms = pytest.importorskip("sandbox.platforms")
    assert (ROOT / "sandbox" / f"{platform.value}.py").is_file(), f"sandbox/{platform}.py"
    module = sandbox_platforms.MODULES.get(platform.value)
    assert module is not None, f"sandbox.platforms.MODULES has no module for {platform}"
    assert module.__name__ == f"sandbox.{platform.value}"
    for hook in ("routes", "control_credentials", "server_error", "rate_limited"):
        assert hasattr(module, hook), f"sandbox/{platform}.py has no {hook}"


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_every_declared_platform_has_its_test_files(platform):
    for name in (f"test_platform_{platform.value}.py", f"test_contract_{platform.value}.py"):
        assert (ROOT / "tests" / name).is_file(), f"tests/{name} is missing"


def test_nothing_is_registered_that_is_not_declared():
    sandbox = pytest.importorskip("sandbox")
    from sandbox.platforms import MODULES
    assert set(ADAPTERS) == set(Platform) and set(supported_platforms()) == set(Platform)
    assert set(MODULES) == set(sandbox.PLATFORMS) == {p.value for p in Platform}
    assert set(LIMITS) == set(Platform)


def test_the_dashboard_keeps_offering_platforms_in_the_same_order():
    assert [p.value for p in supported_platforms()] == [
        "instagram", "facebook", "linkedin", "x", "tiktok", "youtube", "mastodon", "bluesky", "threads"]


@pytest.mark.parametrize("platform", PLATFORMS, ids=str)
def test_settings_read_every_declared_platforms_app_credentials(platform, tmp_path):
    upper = platform.value.upper()
    settings = Settings.from_env({"OUTPOST_DATA_DIR": str(tmp_path), "OUTPOST_SANDBOX": "false",
                                  f"OUTPOST_{upper}_CLIENT_ID": "id-1", f"OUTPOST_{upper}_CLIENT_SECRET": "s-1"})
    assert settings.oauth_client(platform.value) == ("id-1", "s-1")


def test_labels_and_aliases_still_name_their_platform():
    assert [p.label for p in Platform] == ["Instagram", "Facebook Page", "LinkedIn", "X", "TikTok", "YouTube",
                                           "Threads", "Bluesky", "Mastodon"]
    assert Platform.parse("Twitter") is Platform.X and Platform.parse("Facebook Page") is Platform.FACEBOOK
    assert Platform("bluesky") is Platform.BLUESKY and Platform.X == "x" and f"{Platform.X}" == "x"
