"""
The deployment files, checked without a Docker engine: every service of
docker-compose.yml runs something that exists in this repository, and every
variable the deployment reads is documented in .env.example.
"""

import importlib
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from celery import Celery

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("web", "worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def documented() -> set[str]:
    """Variables .env.example sets or shows (commented out, with their default)."""
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def command_words(service: dict) -> list[str]:
    command = service["command"]
    words = shlex.split(command) if isinstance(command, str) else list(command)
    if words[:2] == ["sh", "-c"]:
        words = shlex.split(words[2])
    return words


def test_the_services_are_all_there(compose):
    assert set(compose["services"]) == {"db", "redis", "migrate", "web", "worker", "beat"}
    assert compose["services"]["db"]["image"].startswith("postgres:16")
    assert compose["services"]["redis"]["image"].startswith("redis:")


@pytest.mark.parametrize("name, probe", [("db", "pg_isready"), ("redis", "redis-cli ping"), ("web", "/healthz")])
def test_health_checks(compose, name, probe):
    test = compose["services"][name]["healthcheck"]["test"]
    assert probe in " ".join(test)


def test_app_services_wait_for_healthy_db_and_redis_and_the_migrations(compose):
    for name in APP_SERVICES:
        depends = compose["services"][name]["depends_on"]
        assert depends == {
            "db": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }


def test_migrations_run_once_in_their_own_container(compose):
    """Not in web's command: several web replicas would each migrate, at the same time."""
    migrate = compose["services"]["migrate"]
    assert command_words(migrate) == ["python", "manage.py", "migrate", "--noinput"]
    assert (ROOT / "manage.py").is_file()
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert migrate["build"] == "."
    assert all("migrate" not in command_words(compose["services"][name]) for name in APP_SERVICES)


def test_web_serves_an_importable_wsgi_application(compose):
    words = command_words(compose["services"]["web"])
    assert words[0] == "gunicorn"
    gunicorn = words[words.index("gunicorn") + 1]
    module, _, attribute = gunicorn.partition(":")
    application = getattr(importlib.import_module(module), attribute or "application")
    assert callable(application)


@pytest.mark.parametrize("name, role", [("worker", "worker"), ("beat", "beat")])
def test_celery_services_point_at_the_authsvc_app(compose, name, role):
    words = command_words(compose["services"][name])
    assert words[0] == "celery"
    assert words[words.index("-A") + 1] == "authsvc"
    assert role in words
    # What `celery -A authsvc` finds: the package's celery_app (authsvc/celery.py).
    app = importlib.import_module("authsvc").celery_app
    assert isinstance(app, Celery)
    assert app.main == "authsvc"


def test_image_command_and_static_files(compose):
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "collectstatic --noinput" in dockerfile
    assert 'CMD ["gunicorn", "authsvc.wsgi"' in dockerfile
    assert all(compose["services"][name]["build"] == "." for name in APP_SERVICES)


def test_every_compose_variable_is_documented(compose, documented):
    text = (ROOT / "docker-compose.yml").read_text()
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)", text)) - {"AUTHSVC_ENV_FILE"}
    set_for_the_app = {
        key for name in APP_SERVICES for key in compose["services"][name].get("environment", {})
    }

    assert interpolated <= documented, interpolated - documented
    assert set_for_the_app <= documented, set_for_the_app - documented


def test_every_setting_read_from_the_environment_is_documented(documented):
    """The containers get .env as their environment: whatever the settings read must be in .env.example."""
    # authsvc/settings.py and the sections split out beside it (settings_*.py).
    settings_source = "\n".join(path.read_text() for path in sorted((ROOT / "authsvc").glob("settings*.py")))
    read = set(re.findall(r"\benv(?:\.[a-z_]+)?\(\s*\"([A-Z][A-Z0-9_]*)\"", settings_source))

    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "RATELIMIT_ENABLE", "API_DOCS_PUBLIC"} <= read
    assert read <= documented, f"document these in .env.example: {sorted(read - documented)}"


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="needs docker-compose (Debian's package)")
def test_docker_compose_accepts_the_file():
    result = subprocess.run(
        ["docker-compose", "--env-file", ".env.example", "config", "--quiet"],
        cwd=ROOT, env={"PATH": "/usr/local/bin:/usr/bin:/bin", "AUTHSVC_ENV_FILE": ".env.example"},
        capture_output=True, text=True, timeout=60,
    )

    assert result.returncode == 0, result.stderr
