"""docker-compose.yml: validated by the real Docker Compose v2 binary, plus the stack's rules
(localhost-only ports, healthchecks, pinned images, secrets from files, no default admin)."""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest
import yaml

from tests.backends import ROOT, require

COMPOSE_FILE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`docker compose config` output (interpolated, normalised) with placeholder secret files."""
    secrets = tmp_path_factory.mktemp("secrets")
    for name in ("slack_webhook_url", "pagerduty_routing_key", "grafana_admin_password"):
        (secrets / name).write_text("placeholder\n")
    env = {"PATH": "/usr/bin:/bin", "SECRETS_DIR": str(secrets), "HOME": str(secrets)}
    proc = subprocess.run([str(require("docker-compose")), "-f", str(COMPOSE_FILE), "config"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


def test_compose_config_passes_quietly() -> None:
    proc = subprocess.run([str(require("docker-compose")), "-f", str(COMPOSE_FILE), "config", "-q"], cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "SECRETS_DIR": "/nonexistent"}, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr


def test_missing_env_fails_with_an_instruction() -> None:
    proc = subprocess.run([str(require("docker-compose")), "-f", str(COMPOSE_FILE), "config", "-q"], cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60, check=False)
    if (ROOT / ".env").exists():
        pytest.skip("a local .env exists")
    assert proc.returncode != 0 and "copy .env.example to .env" in proc.stderr


def test_every_published_port_is_bound_to_localhost(resolved: dict[str, Any]) -> None:
    for name, service in resolved["services"].items():
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", (name, port)


def test_every_long_running_service_has_a_healthcheck_and_waits_on_health(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    for name, service in services.items():
        if name == "probe-tools":  # a one-shot copy job
            continue
        assert service.get("healthcheck", {}).get("test"), name
        for dep, spec in service.get("depends_on", {}).items():
            wanted = "service_completed_successfully" if dep == "probe-tools" else "service_healthy"
            assert spec["condition"] == wanted, (name, dep)


def test_images_are_pinned(resolved: dict[str, Any]) -> None:
    for name, service in resolved["services"].items():
        image = service["image"]
        assert re.search(r":v?\d+\.\d+\.\d+", image) and not image.endswith(":latest"), (name, image)


def test_data_lives_in_named_volumes(resolved: dict[str, Any]) -> None:
    wanted = {"prometheus": "/prometheus", "loki": "/loki", "tempo": "/var/tempo", "grafana": "/var/lib/grafana",
              "alertmanager": "/alertmanager", "otel-collector": "/var/lib/otelcol/queue"}
    for name, target in wanted.items():
        mounts = {v["target"]: v for v in resolved["services"][name]["volumes"]}
        assert mounts[target]["type"] == "volume", (name, mounts[target])


def test_grafana_has_no_default_or_anonymous_admin(resolved: dict[str, Any]) -> None:
    env = resolved["services"]["grafana"]["environment"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert "grafana_admin_password" in {s["source"] for s in resolved["services"]["grafana"]["secrets"]}


def test_alertmanager_secrets_match_its_config(resolved: dict[str, Any]) -> None:
    mounted = {f"/run/secrets/{s['source']}" for s in resolved["services"]["alertmanager"]["secrets"]}
    config = (ROOT / "prometheus" / "alertmanager" / "alertmanager.yml").read_text()
    used = set(re.findall(r"/run/secrets/[a-z_]+", config))
    assert used and used <= mounted, (used, mounted)


def test_no_secret_is_committed() -> None:
    ignored = (ROOT / ".gitignore").read_text()
    assert ".env" in ignored.split() and "secrets/*" in ignored.split()
    for path in (ROOT / "secrets").iterdir():
        if path.is_file() and not path.name.endswith(".example"):
            tracked = subprocess.run(["git", "ls-files", "--error-unmatch", str(path)], cwd=ROOT,
                                     capture_output=True, check=False)
            assert tracked.returncode != 0, f"{path} is tracked"


def test_env_example_sets_every_variable_compose_reads() -> None:
    text = COMPOSE_FILE.read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    example = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
               if re.match(r"^[A-Z_]+=", line)}
    assert used <= example, used - example


