"""Configuration precedence: arguments > environment > ~/.kamakirc (pithosfs.client.config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pithosfs.client.config import ConfigError, load_config, looks_like_storage_url

RC = """
[global]
default_cloud = second
colors = off

[cloud "first"]
url = https://one.example/identity/v2.0
token = tok-one

[cloud "second"]
url = https://two.example/object-store/v1/uuid-two
token = tok-two
"""


@pytest.fixture
def rc(tmp_path: Path) -> Path:
    path = tmp_path / ".kamakirc"
    path.write_text(RC)
    return path


def test_default_cloud_from_file(rc: Path):
    cfg = load_config(kamakirc=rc, env={})
    assert (cfg.url, cfg.token, cfg.cloud) == (
        "https://two.example/object-store/v1/uuid-two",
        "tok-two",
        "second",
    )
    assert cfg.is_storage_url


def test_env_cloud_selects_a_section(rc: Path):
    cfg = load_config(kamakirc=rc, env={"PITHOS_CLOUD": "first"})
    assert (cfg.token, cfg.is_storage_url) == ("tok-one", False)


def test_flag_cloud_beats_env_cloud(rc: Path):
    cfg = load_config(cloud="second", kamakirc=rc, env={"PITHOS_CLOUD": "first"})
    assert cfg.token == "tok-two"


def test_env_beats_file_per_item(rc: Path):
    cfg = load_config(kamakirc=rc, env={"PITHOS_TOKEN": "env-tok"})
    assert cfg.token == "env-tok"
    assert cfg.url.startswith("https://two.example")  # url still from the file


def test_arguments_beat_env(rc: Path):
    env = {"PITHOS_URL": "https://env/identity", "PITHOS_TOKEN": "env-tok"}
    cfg = load_config(url="https://flag/identity", token="flag-tok", kamakirc=rc, env=env)
    assert (cfg.url, cfg.token) == ("https://flag/identity", "flag-tok")
    assert cfg.source == "arguments"


def test_unknown_cloud_is_an_error(rc: Path):
    with pytest.raises(ConfigError, match="nope"):
        load_config(cloud="nope", kamakirc=rc, env={})


def test_nothing_configured_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="PITHOS_URL"):
        load_config(kamakirc=tmp_path / "absent", env={})


def test_single_cloud_without_default(tmp_path: Path):
    path = tmp_path / "rc"
    path.write_text('[cloud "only"]\nurl = https://x/identity/v2.0\ntoken = t\n')
    assert load_config(kamakirc=path, env={}).cloud == "only"


def test_kamakirc_env_variable_points_to_the_file(rc: Path):
    assert load_config(env={"KAMAKIRC": str(rc)}).token == "tok-two"


@pytest.mark.parametrize(
    ("url", "storage"),
    [
        ("https://host/pithos/object-store/v1/uuid", True),
        ("http://127.0.0.1:8080/v1/AUTH_acc", True),
        ("https://accounts.example/identity/v2.0", False),
        ("https://keystone.example/v2.0", False),
    ],
)
def test_storage_url_detection(url: str, storage: bool):
    assert looks_like_storage_url(url) is storage


def test_the_older_token_variable_still_works_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from pithosfs.client import config

    config._warned.clear()
    env = {"PITHOS_URL": "http://h/identity/v2.0", "PITHOSFS_TOKEN": "old-name"}
    with caplog.at_level("WARNING"):
        cfg = load_config(env=env, kamakirc=tmp_path / "none")
    assert cfg.token == "old-name"
    assert "PITHOSFS_TOKEN is deprecated; set PITHOS_TOKEN instead" in caplog.text
    both = load_config(env={**env, "PITHOS_TOKEN": "new-name"}, kamakirc=tmp_path / "none")
    assert both.token == "new-name"  # the documented name wins
