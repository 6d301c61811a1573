"""Settings come from the environment once, with embedded defaults and clear errors."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.domain.errors import ConfigurationError
from core.platforms.registry import platform_config
from core.infra.settings import Settings


def test_defaults_need_nothing(tmp_path):
    s = Settings.from_env({"OUTPOST_DATA_DIR": str(tmp_path)})
    assert s.database_url == f"sqlite:///{tmp_path / 'outpost.sqlite'}"
    assert s.sandbox and s.key_file == tmp_path / "secret.key"
    assert s.oauth_client("x") == ("outpost-sandbox-x", "sandbox-secret-x")
    assert s.oauth_redirect_uri == "http://127.0.0.1:8501/"


def test_platform_credentials_versions_and_options_reach_the_adapter(tmp_path):
    s = Settings.from_env({"OUTPOST_DATA_DIR": str(tmp_path), "OUTPOST_SANDBOX": "false",
                           "OUTPOST_YOUTUBE_CLIENT_ID": "yt-id", "OUTPOST_YOUTUBE_CLIENT_SECRET": "yt-secret",
                           "OUTPOST_YOUTUBE_OPTIONS": '{"unaudited": true}',
                           "OUTPOST_DASHBOARD_URL": "https://social.example.com"})
    config = platform_config("youtube", s)
    assert (config.client_id, config.client_secret) == ("yt-id", "yt-secret")
    assert config.options == {"unaudited": True} and config.host_overrides == {}
    assert config.redirect_uri == "https://social.example.com/"


def test_sandbox_rewrites_every_host_to_the_emulator(tmp_path):
    config = platform_config("linkedin", Settings(data_dir=tmp_path, sandbox_url="http://127.0.0.1:9999"))
    assert config.host_overrides["https://api.linkedin.com"] == "http://127.0.0.1:9999/api.linkedin.com"


@pytest.mark.parametrize("env,message", [
    # production without app credentials says which variables to set
    ({"OUTPOST_SANDBOX": "false"}, "OUTPOST_X_CLIENT_ID"),
    # a yes/no setting that is neither
    ({"OUTPOST_SANDBOX": "maybe"}, "not a yes/no value"),
    # options that are not JSON
    ({"OUTPOST_X_OPTIONS": "{unaudited}"}, "OUTPOST_X_OPTIONS is not valid JSON"),
])
def test_bad_settings_are_explained(env, message):
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env).oauth_client("x")


# ---------------------------------------------------------------- the runner's settings

def test_the_runner_settings_keep_their_defaults():
    s = Settings.from_env({})
    assert (s.runner_name, s.runner_concurrency, dict(s.platform_concurrency), s.runner_lease_s) == ("", 32, {}, 120.0)
    assert (s.burst_limit, s.burst_window_s, s.max_attempts) == (3, 600.0, 4)
    assert (s.retry_delays_s, s.max_lateness_s, s.reconcile_after_s) == ((60.0, 300.0, 900.0), 3600.0, 30.0)


def test_the_runner_settings_come_from_the_environment():
    s = Settings.from_env({"OUTPOST_RUNNER_NAME": "runner-a", "OUTPOST_RUNNER_CONCURRENCY": "8",
                           "OUTPOST_PLATFORM_CONCURRENCY": "youtube=2, Twitter=4", "OUTPOST_RUNNER_LEASE_S": "90",
                           "OUTPOST_BURST_LIMIT": "5", "OUTPOST_BURST_WINDOW_S": "300", "OUTPOST_MAX_ATTEMPTS": "6",
                           "OUTPOST_RETRY_DELAYS_S": "10, 20", "OUTPOST_MAX_LATENESS_S": "0",
                           "OUTPOST_RECONCILE_AFTER_S": "45"})
    assert (s.runner_name, s.runner_concurrency, dict(s.platform_concurrency)) == ("runner-a", 8, {"youtube": 2, "x": 4})
    assert (s.runner_lease_s, s.burst_limit, s.burst_window_s, s.max_attempts) == (90.0, 5, 300.0, 6)
    assert (s.retry_delays_s, s.max_lateness_s, s.reconcile_after_s) == ((10.0, 20.0), 0.0, 45.0)


@pytest.mark.parametrize("env,message", [
    # a count that is not a whole number, or is zero
    ({"OUTPOST_RUNNER_CONCURRENCY": "lots"}, "OUTPOST_RUNNER_CONCURRENCY must be a whole number, not 'lots'"),
    ({"OUTPOST_BURST_LIMIT": "0"}, "OUTPOST_BURST_LIMIT must be at least 1"),
    ({"OUTPOST_MAX_ATTEMPTS": "2.5"}, "OUTPOST_MAX_ATTEMPTS must be a whole number"),
    # seconds that are not a number, negative, or a lease of nothing
    ({"OUTPOST_BURST_WINDOW_S": "ten"}, "OUTPOST_BURST_WINDOW_S must be a number of seconds, not 'ten'"),
    ({"OUTPOST_MAX_LATENESS_S": "-1"}, "OUTPOST_MAX_LATENESS_S must not be negative"),
    ({"OUTPOST_RUNNER_LEASE_S": "0"}, "OUTPOST_RUNNER_LEASE_S must be more than 0 seconds"),
    # a platform that does not exist, or a cap of nothing
    ({"OUTPOST_PLATFORM_CONCURRENCY": "myspace=3"}, "OUTPOST_PLATFORM_CONCURRENCY: 'myspace=3' is not PLATFORM=NUMBER"),
    ({"OUTPOST_PLATFORM_CONCURRENCY": "youtube=0"}, "OUTPOST_PLATFORM_CONCURRENCY: 'youtube=0' needs a number of at "
                                                    "least 1"),
    # waits that are not numbers, or none at all
    ({"OUTPOST_RETRY_DELAYS_S": "60,soon"}, "OUTPOST_RETRY_DELAYS_S: 'soon' is not a number of seconds"),
    ({"OUTPOST_RETRY_DELAYS_S": " , "}, "OUTPOST_RETRY_DELAYS_S needs at least one wait"),
])
def test_bad_runner_settings_are_explained(env, message):
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        Settings.from_env(env)


def test_the_runner_takes_its_settings_and_flags_win_over_them():
    from datetime import timedelta

    from jobs.runner import _parser, config_from_args
    s = Settings(runner_name="from-settings", runner_concurrency=8, platform_concurrency={"youtube": 2},
                 runner_lease_s=90, burst_limit=5, burst_window_s=300, max_attempts=6, retry_delays_s=(10.0, 20.0),
                 max_lateness_s=60, reconcile_after_s=45)
    config = config_from_args(_parser().parse_args([]), s)
    assert (config.name, config.concurrency, dict(config.platform_concurrency)) == ("from-settings", 8, {"youtube": 2})
    assert config.lease == timedelta(seconds=90) and config.max_lateness == timedelta(seconds=60)
    assert config.reconcile_after == timedelta(seconds=45)
    assert (config.pacing.burst_limit, config.pacing.burst_window) == (5, timedelta(seconds=300))
    assert config.policy.max_attempts == 6 and config.policy.delays == (timedelta(seconds=10), timedelta(seconds=20))
    flags = config_from_args(_parser().parse_args(
        ["--name", "from-flag", "--concurrency", "2", "--platform-concurrency", "x=1", "--lease-s", "30",
         "--burst-limit", "1", "--burst-window-s", "60", "--max-attempts", "2", "--retry-delays-s", "5",
         "--max-lateness-s", "120", "--reconcile-after-s", "0"]), s)
    assert (flags.name, flags.concurrency, dict(flags.platform_concurrency)) == ("from-flag", 2, {"x": 1})
    assert flags.lease == timedelta(seconds=30) and flags.max_lateness == timedelta(seconds=120)
    assert flags.reconcile_after == timedelta(0)
    assert (flags.pacing.burst_limit, flags.pacing.burst_window) == (1, timedelta(seconds=60))
    assert flags.policy.max_attempts == 2 and flags.policy.delays == (timedelta(seconds=5),)
    with pytest.raises(SystemExit, match="--retry-delays-s: 'x' is not a number"):
        config_from_args(_parser().parse_args(["--retry-delays-s", "x"]), s)


def test_the_runner_name_defaults_to_the_host_name():
    import socket

    from jobs.runner import _parser, config_from_args
    assert config_from_args(_parser().parse_args([]), Settings()).name == socket.gethostname()


def test_only_the_settings_module_reads_the_environment():
    root = Path(__file__).resolve().parent.parent
    readers = sorted(str(p.relative_to(root)) for folder in ("core", "jobs") for p in (root / folder).rglob("*.py")
                     if "os.environ" in p.read_text(encoding="utf-8") or "os.getenv" in p.read_text(encoding="utf-8"))
    assert readers == ["core/infra/settings.py"]


def test_the_runners_defaults_are_the_settings_defaults():
    """One source: a RunnerConfig() built in code, a runner with no flags and Settings() all agree."""
    from jobs.runner import RunnerConfig, _parser, config_from_args
    assert RunnerConfig() == RunnerConfig.from_settings(Settings())
    assert config_from_args(_parser().parse_args([]), Settings()) == RunnerConfig()


def test_a_runner_built_without_a_config_does_what_its_settings_say(tmp_path):
    from datetime import timedelta

    from core.store import InMemoryPostStore
    from jobs.runner import Runner
    settings = Settings(data_dir=tmp_path, runner_name="from-settings", runner_concurrency=3, runner_lease_s=45,
                        burst_limit=1, max_attempts=2, retry_delays_s=(5.0,), reconcile_after_s=7)
    config = Runner(InMemoryPostStore(), settings).config
    assert (config.name, config.concurrency, config.lease) == ("from-settings", 3, timedelta(seconds=45))
    assert config.pacing.burst_limit == 1 and config.reconcile_after == timedelta(seconds=7)
    assert config.policy.max_attempts == 2 and config.policy.delays == (timedelta(seconds=5),)
