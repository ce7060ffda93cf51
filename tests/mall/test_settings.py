"""Settings come from the environment; production refuses to start without its secrets."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROD_SECRET = "x" * 20 + "-production-secret-for-deploy-check-0123456789"


def run_python(code: str, **env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "HOOKS_SECRET")}
    env.update(env_overrides)
    env["DJANGO_SETTINGS_MODULE"] = "mall.settings"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_missing_secret_key_stops_the_start_when_debug_is_off():
    result = run_python("import django; django.setup()", DEBUG="0", HOOKS_SECRET="h")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_missing_hooks_secret_stops_the_start_when_debug_is_off():
    result = run_python("import django; django.setup()", DEBUG="0", SECRET_KEY=PROD_SECRET)
    assert result.returncode != 0
    assert "HOOKS_SECRET is not set" in result.stderr


def test_debug_falls_back_to_development_secrets():
    result = run_python(
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.LANGUAGE_CODE, settings.TIME_ZONE, settings.USE_TZ, "
        "[code for code, _ in settings.LANGUAGES], settings.AUTH_USER_MODEL)",
        DEBUG="1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["zh-hans", "Asia/Shanghai", "True", "['zh-hans',", "'en']",
                                     "mall.Member"]


def test_importing_settings_never_starts_a_server():
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(DEBUG="1", DJANGO_SETTINGS_MODULE="mall.settings", MALL_VAR_DIR="/nonexistent/var")
    result = subprocess.run([sys.executable, "-c", "import mall.settings"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr
    assert not Path("/nonexistent/var").exists()


def test_check_deploy_is_clean_under_production_settings():
    result = run_python(
        "import sys, django; django.setup(); from django.core.management import call_command; "
        "call_command('check', '--deploy', '--fail-level', 'WARNING')",
        DEBUG="0", SECRET_KEY=PROD_SECRET, HOOKS_SECRET="hooks-secret", ALLOWED_HOSTS="mall.example.com",
        FIELD_ENCRYPTION_KEYS="k1:MDEyMzQ1Njc4OWFiY2RlZg==", FIELD_BLIND_INDEX_KEY="x" * 40,
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_passwords_hash_with_argon2(member):
    assert member.password.startswith("argon2$")


def test_database_connections_persist_by_default_and_the_environment_overrides():
    code = ("import django, json; django.setup(); from django.conf import settings as s; "
            "print(json.dumps([s.DATABASES['default'][k] for k in ('CONN_MAX_AGE', 'CONN_HEALTH_CHECKS')]))")
    env = {k: v for k, v in os.environ.items() if k not in ("DB_CONN_MAX_AGE", "DB_CONN_HEALTH_CHECKS")}
    for overrides, expected in [({}, "[60, true]"),
                                ({"DB_CONN_MAX_AGE": "0", "DB_CONN_HEALTH_CHECKS": "0"}, "[0, false]")]:
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                                timeout=120, env={**env, "DEBUG": "1", **overrides,
                                                  "DJANGO_SETTINGS_MODULE": "mall.settings"})
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip().splitlines()[-1] == expected
