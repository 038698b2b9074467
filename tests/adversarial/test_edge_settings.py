"""Issue 15, hole 18: edge values in settings and flags.

``timeout_s = nan`` gave a traceback, ``0`` and ``-1`` were accepted (and ``doctor`` said
ok while every call timed out), ``retries = -3`` made no request at all, ``nan``/``inf``
intervals and thresholds and a negative expiry were accepted, ``apply_risks = LOW,critical``
was silently dropped, ``kb search --since 99999999999d`` was an OverflowError.

Every number and choice now has a rule (``sreconsole.config``). The table below is built
from the settings themselves, so a setting added later is covered without editing this
file: for each one, values that break its rule must be refused from the file and from the
environment with one line naming where it came from, the key, the value and what is
allowed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import fields, is_dataclass

import pytest

from sreconsole.config import Address, Choice, ConfigError, Number, Settings, load_settings


def _rules() -> list[tuple[str, str, object]]:
    """(dotted key, python type name, rule) of every setting that has a rule."""
    out = []
    for f in fields(Settings):
        if f.name in ("origins", "warnings", "config_path"):
            continue
        default = getattr(Settings(), f.name)
        subs = [(f"{f.name}.{s.name}", s) for s in fields(default)] if is_dataclass(default) else [(f.name, f)]
        for key, sub in subs:
            rule = sub.metadata.get("rule")
            if rule is not None:
                out.append((key, str(sub.type), rule))
    return out


RULES = _rules()


def _bad_values(type_name: str, rule) -> list[tuple[str, str]]:
    """(value as the environment gives it, the text the error must quote)."""
    if isinstance(rule, Number):
        bad = [("nan", "nan"), ("inf", "inf"), ("-inf", "-inf")] if type_name == "float" else []
        low = rule.above if rule.above is not None else rule.least
        if low is not None:
            below = low if rule.above is not None else low - 1
            bad.append((str(int(below)) if type_name == "int" else repr(float(below)), str(int(below)) if type_name == "int" else repr(float(below))))
        if rule.most is not None:
            above = int(rule.most) + 1 if type_name == "int" else float(rule.most) * 2 + 1
            bad.append((str(above), str(above) if type_name == "int" else repr(above)))
        return bad
    if isinstance(rule, Choice):
        return [("LOW,critical", "'critical'")] if rule.many else [("nonsense", "'nonsense'")]
    if isinstance(rule, Address):
        return [("alertmanager:9093", "'alertmanager:9093'"), ("ftp://h/x", "'ftp://h/x'"), ("http://h:99999", "'http://h:99999'")]
    raise AssertionError(rule)


CASES = [(key, env_value, quoted) for key, type_name, rule in RULES for env_value, quoted in _bad_values(type_name, rule)]


def test_the_table_covers_every_numeric_and_choice_setting() -> None:
    """Every int and float setting, and every setting with a fixed set of values, has a rule."""
    keys = {key for key, _, _ in RULES}
    for f in fields(Settings):
        default = getattr(Settings(), f.name)
        if not is_dataclass(default):
            continue
        for sub in fields(default):
            if str(sub.type) in ("int", "float"):
                assert f"{f.name}.{sub.name}" in keys, f"{f.name}.{sub.name} has no rule"
    assert {"theme", "poll_interval_s", "stale_after_s", "alertmanager.timeout_s", "alertmanager.retries", "triage.low_threshold",
            "review.apply_risks", "review.expire_after_s", "chat.generator", "pipeline.executor"} <= keys
    assert len(CASES) > 60


def _env_name(key: str) -> str:
    return "SRECONSOLE_" + key.replace(".", "_").upper()


@pytest.mark.parametrize(("key", "value", "quoted"), CASES, ids=[f"{k}={v}" for k, v, _ in CASES])
def test_a_bad_value_from_the_environment_is_one_line_naming_key_value_and_rule(key, value, quoted) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={_env_name(key): value})
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"env {_env_name(key)}: {key} must be "), message
    assert f"got {quoted}" in message, message


@pytest.mark.parametrize(("key", "value", "quoted"), CASES, ids=[f"{k}={v}" for k, v, _ in CASES])
def test_a_bad_value_from_the_file_is_refused_the_same_way(tmp_path, key, value, quoted) -> None:
    section, _, name = key.rpartition(".")
    if "," in value:
        literal = "[" + ", ".join(f'"{v}"' for v in value.split(",")) + "]"
    elif value in ("nan", "inf", "-inf") or _is_number(value):
        literal = value
    else:
        literal = f'"{value}"'
    cfg = tmp_path / "c.toml"
    cfg.write_text((f"[{section}]\n" if section else "") + f"{name} = {literal}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(cfg, environ={})
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"file {cfg}: {key} must be "), message
    assert f"got {quoted}" in message, message


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_choices_ignore_case_and_are_stored_lower_case() -> None:
    s = load_settings(environ={"SRECONSOLE_REVIEW_APPLY_RISKS": "LOW,Medium,low", "SRECONSOLE_THEME": "Light",
                               "SRECONSOLE_CHAT_GENERATOR": "EXTRACTIVE"})
    assert s.review.apply_risks == ["low", "medium"] and s.theme == "light" and s.chat.generator == "extractive"


def test_thresholds_must_be_in_order() -> None:
    with pytest.raises(ConfigError, match=r"triage.low_threshold must be <= triage.high_threshold \(0.3\), got 0.9"):
        load_settings(environ={"SRECONSOLE_TRIAGE_LOW_THRESHOLD": "0.9", "SRECONSOLE_TRIAGE_HIGH_THRESHOLD": "0.3"})


# -- through the command line: exit 2, one line, never a traceback -------------------------------


def _cli(*args: str, env: dict | None = None, config: str | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, **(env or {})}
    pre = ["--config", config] if config else []
    return subprocess.run([sys.executable, "-m", "sreconsole", *pre, *args], capture_output=True, text=True, timeout=120, env=full)


def _one_line_exit_2(result: subprocess.CompletedProcess, *needles: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(("toml", "needles"), [
    ("[alertmanager]\ntimeout_s = nan\n", ("alertmanager.timeout_s", "got nan", "> 0")),
    ("[alertmanager]\nretries = -3\n", ("alertmanager.retries", "got -3", ">= 0")),
    ("poll_interval_s = inf\n", ("poll_interval_s", "got inf")),
    ("[triage]\nlow_threshold = nan\n", ("triage.low_threshold", "got nan", "<= 1")),
    ("[review]\nexpire_after_s = -1\n", ("review.expire_after_s", "got -1.0")),
    ('[review]\napply_risks = ["LOW", "critical"]\n', ("review.apply_risks", "'critical'", "low, medium, high")),
    ("[knowledge]\nchunk_words = 0\n", ("knowledge.chunk_words", "got 0")),
])
def test_bad_file_values_exit_2_with_one_line(tmp_path, toml, needles) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(toml)
    _one_line_exit_2(_cli("config", "show", config=str(cfg)), str(cfg), *needles)


@pytest.mark.parametrize("value", ["0", "-1"])
def test_a_timeout_that_fails_every_call_is_refused_by_doctor_too(value) -> None:
    """Before: accepted, every call timed out, and doctor said ok."""
    result = _cli("doctor", env={"SRECONSOLE_PROMETHEUS_TIMEOUT_S": value, "SRECONSOLE_PROMETHEUS_URL": "http://127.0.0.1:9"})
    _one_line_exit_2(result, "env SRECONSOLE_PROMETHEUS_TIMEOUT_S", "prometheus.timeout_s", "> 0")


@pytest.mark.parametrize(("args", "needles"), [
    (("kb", "search", "x", "--since", "99999999999d"), ("--since", "36500")),
    (("kb", "search", "x", "-k", "0"), ("-k", "from 1 to 100", "'0'")),
    (("kb", "search", "x", "--kind", "secrets"), ("--kind", "runbook")),
    (("--seed", "-1", "alerts", "list"), ("--seed", "'-1'")),
    (("--theme", "Solarized", "config", "show"), ("--theme",)),
    (("--alertmanager", "alertmanager:9093", "config", "show"), ("alertmanager.url", "http://")),
    (("pipeline", "run", "--epochs", "0", "--detach"), ("--epochs", "'0'")),
    (("review", "approve", "0", "--reason", "x"), ("id", "'0'")),
])
def test_bad_flags_exit_2_with_one_line(args, needles) -> None:
    _one_line_exit_2(_cli(*args), *needles)
