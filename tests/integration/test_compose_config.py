"""docker-compose.yml: validated by the real Docker Compose v2 binary, plus the stack's rules
(localhost-only ports, healthchecks, pinned images, secrets from files, no default admin)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.backends import ROOT, require

COMPOSE_FILE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`docker compose config` output (interpolated, normalised) with placeholder secret files."""
    secrets = tmp_path_factory.mktemp("secrets")
    for name in ("slack_webhook_url", "pagerduty_routing_key", "smtp_password", "grafana_admin_password"):
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


def test_missing_env_fails_with_an_instruction(tmp_path: Path) -> None:
    """A first `docker compose up` without .env stops at once with the one-line fix."""
    empty = tmp_path / "empty.env"  # stands in for "no .env" even where a developer has one
    empty.write_text("")
    proc = subprocess.run([str(require("docker-compose")), "--env-file", str(empty), "-f", str(COMPOSE_FILE),
                           "config", "-q"], cwd=ROOT, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode != 0
    assert "cp .env.example .env" in proc.stderr and "docs/stack.md" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_env_example_alone_makes_a_valid_config(tmp_path: Path) -> None:
    proc = subprocess.run([str(require("docker-compose")), "--env-file", str(ROOT / ".env.example"), "-f",
                           str(COMPOSE_FILE), "config", "-q"], cwd=ROOT, env={"PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr


def test_every_published_port_is_bound_to_localhost(resolved: dict[str, Any]) -> None:
    for name, service in resolved["services"].items():
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", (name, port)


ONE_SHOT = {"init"}  # setup jobs that exit: others wait for their success, not their health


def test_every_long_running_service_has_a_healthcheck_and_waits_on_health(resolved: dict[str, Any]) -> None:
    services = resolved["services"]
    assert set(services) >= ONE_SHOT
    for name, service in services.items():
        if name in ONE_SHOT:
            assert "restart" not in service and "healthcheck" not in service, name
            continue
        check = service.get("healthcheck", {})
        assert check.get("test") and not check.get("disable"), name
        assert service.get("restart") == "unless-stopped", name
        for dep, spec in service.get("depends_on", {}).items():
            wanted = "service_completed_successfully" if dep in ONE_SHOT else "service_healthy"
            assert spec["condition"] == wanted, (name, dep)


def test_healthchecks_use_the_shared_static_busybox(resolved: dict[str, Any]) -> None:
    """Distroless images have no shell or wget: every check runs /tools/busybox, which init copies."""
    init_targets = {v["source"]: v["target"] for v in resolved["services"]["init"]["volumes"]}
    assert init_targets.get("probe-tools") == "/tools"
    for name, service in resolved["services"].items():
        if name in ONE_SHOT:
            continue
        test = service["healthcheck"]["test"]
        assert test[:3] == ["CMD", "/tools/busybox", "wget"], (name, test)
        assert urlsplit(test[-1]).hostname == "127.0.0.1", (name, test)  # the container's own endpoint
        mounts = {v["target"]: v for v in service["volumes"]}
        assert mounts["/tools"]["source"] == "probe-tools" and mounts["/tools"].get("read_only"), name
        assert service["depends_on"]["init"]["condition"] == "service_completed_successfully", name


def test_init_hands_the_uid_10001_volumes_to_their_services(resolved: dict[str, Any]) -> None:
    """The collector, Tempo and Loki run as uid 10001; a fresh named volume is root's."""
    init = resolved["services"]["init"]
    command = " ".join(init["command"])
    chowned = {v["source"] for v in init["volumes"] if "chown -R 10001:10001" in command and v["target"] in command}
    for service, target in (("otel-collector", "/var/lib/otelcol/queue"), ("tempo", "/var/tempo"), ("loki", "/loki")):
        source = {v["target"]: v["source"] for v in resolved["services"][service]["volumes"]}[target]
        assert source in chowned, (service, source)


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
    assert "GF_SECURITY_ADMIN_PASSWORD" not in env  # never a value in the compose file or .env
    assert env["GF_SECURITY_ADMIN_PASSWORD__FILE"] == "/run/secrets/grafana_admin_password"
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env.get("GF_AUTH_ANONYMOUS_ORG_ROLE", "Viewer") != "Admin"
    assert env.get("GF_AUTH_DISABLE_LOGIN_FORM", "false") == "false"
    assert "grafana_admin_password" in {s["source"] for s in resolved["services"]["grafana"]["secrets"]}
    assert not (ROOT / "secrets" / "grafana_admin_password.example").exists()  # no shared default password


def test_prometheus_runs_with_the_agreed_flags(resolved: dict[str, Any]) -> None:
    command = resolved["services"]["prometheus"]["command"]
    for flag in ("--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
                 "--web.enable-otlp-receiver", "--web.enable-remote-write-receiver",
                 "--enable-feature=exemplar-storage"):
        assert flag in command, flag
    assert any(c.startswith("--storage.tsdb.retention.time=") for c in command)
    mounts = {v["target"]: v for v in resolved["services"]["prometheus"]["volumes"]}
    assert mounts["/etc/prometheus"]["read_only"] and mounts["/etc/prometheus"]["source"].endswith("/prometheus")
    alertmanager = resolved["services"]["alertmanager"]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in alertmanager["command"]
    mounts = {v["target"]: v for v in alertmanager["volumes"]}
    assert mounts["/etc/alertmanager"]["source"].endswith("/prometheus/alertmanager")


def test_service_names_and_ports_of_the_contract(resolved: dict[str, Any]) -> None:
    published = {name: {int(p["target"]) for p in s.get("ports", [])} for name, s in resolved["services"].items()}
    assert published["otel-collector"] == {4317, 4318, 13133}
    assert published["tempo"] == {3200} and published["loki"] == {3100} and published["grafana"] == {3000}
    assert published["prometheus"] == {9090} and published["alertmanager"] == {9093}


def test_alertmanager_secrets_match_its_config(resolved: dict[str, Any]) -> None:
    mounted = {f"/run/secrets/{s['source']}" for s in resolved["services"]["alertmanager"]["secrets"]}
    config = (ROOT / "prometheus" / "alertmanager" / "alertmanager.yml").read_text()
    used = set(re.findall(r"/run/secrets/[a-z_]+", config))
    assert used and used <= mounted, (used, mounted)


def test_prometheus_retention_covers_the_longest_rule_window(resolved: dict[str, Any]) -> None:
    """The monthly budget alerts sum 30 days of cost: with less retention they silently under-count."""
    command = resolved["services"]["prometheus"]["command"]
    retention = next(c.split("=", 1)[1] for c in command if c.startswith("--storage.tsdb.retention.time="))
    assert retention.endswith("d"), retention
    rules = "".join(p.read_text() for p in (ROOT / "prometheus" / "rules").glob("*.yml"))
    longest = max(int(days) for days in re.findall(r"\[(\d+)d[\]:]", rules))
    assert longest >= 30 and int(retention[:-1]) > longest, (retention, longest)


def test_every_secret_has_an_example_or_is_generated() -> None:
    """The setup recipe (README, docs/stack.md) copies each example and generates the Grafana password."""
    declared = set(yaml.safe_load(COMPOSE_FILE.read_text())["secrets"])
    examples = {p.stem for p in (ROOT / "secrets").glob("*.example")}
    assert declared == examples | {"grafana_admin_password"}, (declared, examples)
    for doc in ("README.md", "docs/stack.md", ".env.example"):
        text = (ROOT / doc).read_text()
        for name in examples:
            assert f"cp secrets/{name}.example secrets/{name}" in text, (doc, name)
        assert "secrets/grafana_admin_password" in text, doc


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
    assert "SECRETS_DIR" in used
    example = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
               if re.match(r"^[A-Z_]+=", line)}
    assert used <= example, used - example


