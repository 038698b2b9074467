"""Settings: file + env + flags with origins, clear errors for bad files, secrets redacted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sreconsole.config import ConfigError, REDACTED, load_settings


def _run_cli(*args: str, env_extra: dict[str, str] | None = None, cwd: Path | None = None):
    import os

    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "sreconsole", *args], capture_output=True, text=True, env=env, timeout=60)


def test_defaults_mean_demo_with_data_dir_from_env(tmp_path):
    s = load_settings()
    assert s.is_demo and s.environment_name == "demo"
    assert s.data_path == tmp_path / "data"
    assert s.origins["data_dir"] == "env SRECONSOLE_DATA_DIR"


def test_precedence_file_then_env_then_flag(tmp_path, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text('poll_interval_s = 7\n[alertmanager]\nurl = "http://file:9093"\ntimeout_s = 2\n')
    monkeypatch.setenv("SRECONSOLE_ALERTMANAGER_URL", "http://env:9093")
    s = load_settings(cfg)
    assert s.poll_interval_s == 7.0 and s.origins["poll_interval_s"] == f"file {cfg}"
    assert s.alertmanager.url == "http://env:9093" and s.origins["alertmanager.url"] == "env SRECONSOLE_ALERTMANAGER_URL"
    assert s.alertmanager.timeout_s == 2.0
    s = load_settings(cfg, overrides={"alertmanager.url": "http://flag:9093"})
    assert s.alertmanager.url == "http://flag:9093" and s.origins["alertmanager.url"] == "flag"
    assert not s.is_demo and s.environment_name == "flag:9093"


def test_malformed_toml_names_file_line_and_problem(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('theme = "dark"\n[alertmanager\nurl = "x"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    message = str(info.value)
    assert message.startswith(f"{cfg}:2:")
    assert "invalid TOML" in message and "\n" not in message


def test_malformed_toml_exits_2_with_one_line(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("poll_interval_s = = 3\n")
    result = _run_cli("--config", str(cfg), "config", "show")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{cfg}:1:" in lines[0], result.stderr


def test_wrong_type_is_an_error_naming_the_key(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[prometheus]\ntimeout_s = "soon"\n')
    with pytest.raises(ConfigError, match=r"prometheus.timeout_s: expected float"):
        load_settings(cfg)


def test_unknown_keys_warn_and_do_not_stop(tmp_path, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text('colour = "blue"\n[alertmanager]\nurll = "x"\n[nosuchsection]\na = 1\n')
    monkeypatch.setenv("SRECONSOLE_NO_SUCH_THING", "1")
    s = load_settings(cfg)
    joined = "\n".join(s.warnings)
    assert "'colour'" in joined and "'alertmanager.urll'" in joined and "nosuchsection" in joined
    assert "SRECONSOLE_NO_SUCH_THING" in joined
    result = _run_cli("--config", str(cfg), "config", "show")
    assert result.returncode == 0 and "unknown setting 'colour'" in result.stderr


def test_missing_explicit_config_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_config_show_redacts_secrets_and_gives_origins(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[alertmanager]\npassword = "hunter2-very-secret"\n[s3]\nsecret_key = "s3cr3t"\n')
    result = _run_cli("--config", str(cfg), "config", "show", "--json")
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout and "s3cr3t" not in result.stdout
    data = json.loads(result.stdout)
    assert data["alertmanager.password"] == {"value": "<redacted>", "origin": f"file {cfg}"}
    table = _run_cli("--config", str(cfg), "config", "show")
    assert "hunter2" not in table.stdout and REDACTED in table.stdout


def test_version_flag():
    from sreconsole import __version__

    result = _run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"sreconsole {__version__}"


def test_bad_theme_is_rejected():
    with pytest.raises(ConfigError, match="theme"):
        load_settings(overrides={"theme": "solarized"})


def test_unknown_chat_generator_is_rejected_naming_the_choices():
    with pytest.raises(ConfigError, match=r"env SRECONSOLE_CHAT_GENERATOR: chat.generator must be one of auto, extractive, ollama, mlx, got 'gpt5'"):
        load_settings(environ={"SRECONSOLE_CHAT_GENERATOR": "gpt5"})
