"""Settings come from the environment once, with embedded defaults and clear errors."""
from __future__ import annotations

import pytest

from core.errors import ConfigurationError
from core.platforms.registry import platform_config
from core.settings import Settings


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
