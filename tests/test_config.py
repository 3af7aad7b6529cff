"""Typed configuration: values as a person writes them, every wrong value one line naming
the variable and what is allowed (never a traceback, never silently clamped), and
``leadhook config`` showing the effective settings with secrets masked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import cli
from config import VARIABLES, ConfigError, Settings, unknown_variables

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({"LEADHOOK_AI_TIMEOUT_SECONDS": "2.5"}, "ai_timeout_seconds", 2.5),
        ({"LEADHOOK_AI_TIMEOUT_SECONDS": " 45 "}, "ai_timeout_seconds", 45.0),
        ({"LEADHOOK_JOB_LEASE_SECONDS": "7.5"}, "job_lease_seconds", 7.5),
        ({"LEADHOOK_JOB_CONCURRENCY": "16"}, "job_concurrency", 16),
        ({"LEADHOOK_LOG_LEVEL": "debug"}, "log_level", "DEBUG"),
        ({"LEADHOOK_AI_PROVIDER": "Offline"}, "ai_provider", "offline"),
        ({"LEADHOOK_JOB_RETENTION_DAYS": "0"}, "job_retention_days", 0),
        ({"LEADHOOK_DB": ""}, "db_path", "data/leadhook.db"),  # empty = unset
        ({"OPENAI_API_KEY": "sk-x"}, "ai_provider", "openai"),
        ({}, "ai_provider", "offline"),
    ],
)
def test_values_as_a_person_writes_them(env, field, value):
    assert getattr(Settings.from_env(env), field) == value


@pytest.mark.parametrize(
    ("text", "enabled"),
    [(t, False) for t in ("0", "false", "FALSE", "no", "off", "Off", "n")]
    + [(t, True) for t in ("1", "true", "True", "yes", "on", "y")],
)
def test_booleans_as_a_person_writes_them(text, enabled):
    assert Settings.from_env({"LEADHOOK_SCHEDULER_ENABLED": text}).scheduler_enabled is enabled


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (
            {"LEADHOOK_JOB_CONCURRENCY": "0"},
            "LEADHOOK_JOB_CONCURRENCY='0': not allowed; an integer from 1 to 1000",
        ),
        (
            {"LEADHOOK_JOB_CONCURRENCY": "abc"},
            "LEADHOOK_JOB_CONCURRENCY='abc': not allowed; an integer from 1",
        ),
        ({"LEADHOOK_JOB_CONCURRENCY": "2.5"}, "LEADHOOK_JOB_CONCURRENCY='2.5': not allowed"),
        (
            {"LEADHOOK_AI_PROVIDER": "opnai"},
            "LEADHOOK_AI_PROVIDER='opnai': not allowed; openai or offline",
        ),
        (
            {"LEADHOOK_LOG_LEVEL": "verbose"},
            "LEADHOOK_LOG_LEVEL='verbose': not allowed; DEBUG, INFO",
        ),
        (
            {"LEADHOOK_SCHEDULER_ENABLED": "maybe"},
            "LEADHOOK_SCHEDULER_ENABLED='maybe': not allowed; 1/0, true/false",
        ),
        (
            {"LEADHOOK_AI_TIMEOUT_SECONDS": "0"},
            "LEADHOOK_AI_TIMEOUT_SECONDS='0': not allowed; seconds above 0",
        ),
        ({"LEADHOOK_AI_TIMEOUT_SECONDS": "nan"}, "LEADHOOK_AI_TIMEOUT_SECONDS='nan': not allowed"),
        (
            {"LEADHOOK_JOB_LEASE_SECONDS": "2"},
            "LEADHOOK_JOB_LEASE_SECONDS='2': not allowed; seconds from 5",
        ),
        (
            {"LEADHOOK_MAX_BODY_BYTES": "-1"},
            "LEADHOOK_MAX_BODY_BYTES='-1': not allowed; bytes from 1024",
        ),
        ({"LEADHOOK_GHL_DEDUPE_WINDOW_SECONDS": "-5"}, "LEADHOOK_GHL_DEDUPE_WINDOW_SECONDS='-5'"),
        ({"LEADHOOK_WRITER_MAX_BATCH": "0"}, "LEADHOOK_WRITER_MAX_BATCH='0': not allowed"),
        (
            {"LEADHOOK_AI_RETENTION_DAYS": "-1"},
            "LEADHOOK_AI_RETENTION_DAYS='-1': not allowed; days",
        ),
        ({"LEADHOOK_AI_PRICES_JSON": "{bad"}, "LEADHOOK_AI_PRICES_JSON: JSON is malformed"),
        (
            {"LEADHOOK_AI_PRICES_JSON": '{"m": {"input": 1, "ouput": 2}}'},
            "LEADHOOK_AI_PRICES_JSON: model 'm': Object contains unknown field ouput",
        ),
        (
            {"LEADHOOK_AI_PRICES_JSON": '{"m": {"input": -1, "output": 2}}'},
            "LEADHOOK_AI_PRICES_JSON: model 'm': Expected float >= 0.0 (input)",
        ),
        ({"LEADHOOK_AI_PRICES_JSON": "[]"}, "LEADHOOK_AI_PRICES_JSON: not an object of models"),
        ({"LEADHOOK_AI_PROVIDER": "openai"}, "LEADHOOK_AI_PROVIDER=openai needs OPENAI_API_KEY"),
        (
            {"OPENAI_BASE_URL": "localhost:8080"},
            "OPENAI_BASE_URL='localhost:8080': not allowed; an http://",
        ),
    ],
)
def test_every_wrong_value_is_one_line_naming_the_variable(env, says):
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    message = str(caught.value)
    assert message.startswith(says)
    assert "\n" not in message


def test_unknown_variables_are_reported_with_the_closest_name():
    found = unknown_variables({"LEADHOOK_SCHEDULR_ENABLED": "0", "LEADHOOK_DB": "x", "PATH": "/"})
    assert found == {"LEADHOOK_SCHEDULR_ENABLED": "LEADHOOK_SCHEDULER_ENABLED"}


def run_config(env: dict[str, str], *args: str):
    clean = {k: "" for k in os.environ if k.startswith(("LEADHOOK_", "OPENAI_"))}
    return CliRunner().invoke(cli.cli, ["config", *args], env={**clean, **env})


def test_leadhook_config_prints_the_effective_settings_with_secrets_masked():
    env = {
        "LEADHOOK_ADMIN_TOKEN": "admin-s3cret",
        "OPENAI_API_KEY": "sk-live-s3cret",
        "LEADHOOK_AI_TIMEOUT_SECONDS": "2.5",
        "LEADHOOK_SCHEDULER_ENABLED": "off",
    }
    result = run_config(env, "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["LEADHOOK_ADMIN_TOKEN"] == {"value": "********", "source": "environment"}
    assert shown["OPENAI_API_KEY"]["value"] == "********"
    assert shown["LEADHOOK_CRON_SECRET"] == {"value": None, "source": "default"}
    assert shown["LEADHOOK_AI_TIMEOUT_SECONDS"] == {"value": 2.5, "source": "environment"}
    assert shown["LEADHOOK_SCHEDULER_ENABLED"]["value"] is False
    assert shown["LEADHOOK_AI_PROVIDER"] == {
        "value": "openai",
        "source": "default (OPENAI_API_KEY is set)",
    }
    assert set(shown) == {var.name for var in VARIABLES}
    text = run_config(env).output
    assert "s3cret" not in result.output + text
    assert "LEADHOOK_AI_TIMEOUT_SECONDS" in text and "2.5" in text


def test_leadhook_config_refuses_a_wrong_value_with_one_line_and_status_78():
    result = run_config({"LEADHOOK_JOB_CONCURRENCY": "0"})
    assert result.exit_code == 78
    assert result.output.strip().splitlines() == [
        "Error: LEADHOOK_JOB_CONCURRENCY='0': not allowed; an integer from 1 to 1000"
    ]


def test_leadhook_config_warns_of_unknown_variables():
    result = run_config({"LEADHOOK_SCHEDULR_ENABLED": "0"})
    assert result.exit_code == 0
    assert (
        "warning: LEADHOOK_SCHEDULR_ENABLED is not a leadhook variable and is ignored "
        "(did you mean LEADHOOK_SCHEDULER_ENABLED?)" in result.output
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "env",
    [
        {"LEADHOOK_JOB_CONCURRENCY": "abc"},
        {"LEADHOOK_AI_PROVIDER": "opnai"},
        {"LEADHOOK_LOG_LEVEL": "verbose"},
        {"LEADHOOK_AI_PRICES_JSON": '{"gpt-4o-mini": {"input": 0.15, "outptu": 0.6}}'},
        {"LEADHOOK_LOG_FORMAT": "xml"},
    ],
    ids=["concurrency", "provider", "log-level", "prices", "log-format"],
)
def test_serve_with_a_wrong_value_stops_with_one_line_before_anything(tmp_path, env):
    """As an operator sees it: a real process, its stderr, and no database created."""
    db_path = tmp_path / "data" / "leadhook.db"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LEADHOOK_", "OPENAI_"))}
    completed = subprocess.run(
        [sys.executable, "-c", "import cli; cli.main()", "serve", "--port", "1"],
        cwd=ROOT,
        env={**base, "LEADHOOK_DB": str(db_path), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 78
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith(f"Error: {next(iter(env))}")
    assert "Traceback" not in completed.stderr
    assert completed.stdout == ""
    assert not db_path.parent.exists()
