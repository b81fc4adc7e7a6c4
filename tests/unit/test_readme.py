"""The README stays true: every setting, demo option and profile is documented, every link
resolves, and every command it shows is exercised by a named test (or by .ci/run)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from llmotel import redaction
from llmotel.config import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()

# README command -> the test file that runs it and a string proving that file runs it.
# Commands that need what no test machine has (Docker, PyPI release, a user's app) name the
# test that covers them where it can run, or what stands in for them.
EXERCISED: dict[str, tuple[str, str]] = {
    "scripts/demo": ("tests/integration/test_local_mode.py", '"scripts" / "demo"'),
    "scripts/test": (".ci/run", "bash scripts/test"),
    "scripts/demo --duration 120 --rps 5": ("tests/integration/test_local_mode.py", '"--duration"'),
    "scripts/demo --profile outage --recover-after 60 --duration 150": (
        "tests/integration/test_local_mode.py", '"--profile", "outage", "--recover-after", "60", "--duration", "150"'),
    "scripts/demo --base-url http://localhost:11434/v1 --model llama3.2": (
        "tests/e2e/test_demo_real.py", '"--base-url"'),
    "scripts/demo --local-model": ("tests/e2e/test_demo_real.py", '"--local-model"'),
    ".venv/bin/llmotel check": ("tests/integration/test_demo.py", 'llmotel_script(), "check"'),
    "docker compose up -d --wait": ("tests/stack/test_stack.py", '"up", "-d", "--wait"'),
    'pip install "llmotel[openai,anthropic]"': ("tests/unit/test_readme.py", "test_extras_the_readme_installs"),
    'pip install "llmotel[openai]" opentelemetry-distro': ("tests/unit/test_readme.py",
                                                          "test_extras_the_readme_installs"),
    "opentelemetry-instrument python app.py": ("tests/integration/test_zero_code.py", '"opentelemetry-instrument"'),
    ".venv/bin/python benchmarks/overhead.py --subject llmotel --provider openai --quick --json": (
        "tests/integration/test_benchmarks.py", '"benchmarks/overhead.py", "--subject", "llmotel"'),
    ".venv/bin/python benchmarks/redaction.py --quick": ("tests/integration/test_benchmarks.py",
                                                        '"benchmarks/redaction.py", "--quick"'),
    # Builds four venvs from PyPI (~7 min): documented as outside the test run.
    "benchmarks/run.sh": ("README.md", "is not part of it"),
}


def commands() -> list[str]:
    """The README's shell commands, continuation lines joined, comments dropped."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command = line.split("  #")[0].strip()
            if command:
                found.append(re.sub(r"\s+", " ", command))
    return found


def test_every_command_is_exercised() -> None:
    for command in commands():
        if command.startswith("cp .env.example .env"):
            continue  # the secrets recipe: test_compose_config.test_every_secret_has_an_example_or_is_generated
        assert command in EXERCISED, f"README command not mapped to a test: {command}"
        path, proof = EXERCISED[command]
        assert proof in (ROOT / path).read_text(), (command, path, proof)


def test_the_demo_suggests_a_readme_command() -> None:
    from llmotel.demo.session import INCIDENT_HINT

    assert INCIDENT_HINT in commands()


def test_extras_the_readme_installs() -> None:
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for wanted in re.findall(r'pip install "llmotel\[([\w,]+)\]"', README):
        assert set(wanted.split(",")) <= set(extras), wanted
    entry_points = (ROOT / "pyproject.toml").read_text()
    assert '[project.entry-points.opentelemetry_instrumentor]' in entry_points


def test_configuration_table_names_every_setting() -> None:
    section = README[README.index("### Configuration"):README.index("### Privacy")]
    names = {f.name for f in dataclasses.fields(Settings)}
    missing = {n for n in names if not re.search(rf"`{n}`", section)}
    assert not missing, f"settings missing from the README's configuration table: {sorted(missing)}"
    config_source = (ROOT / "llmotel" / "config.py").read_text()
    env = set(re.findall(r'"((?:OTEL|LLMOTEL)_[A-Z_]*[A-Z])"', config_source))
    env |= {v for k, v in vars(redaction).items() if k.startswith("ENV_")}
    missing = {n for n in env if n not in section}
    assert not missing, f"environment variables missing from the configuration table: {sorted(missing)}"


def test_demo_options_and_profiles_are_documented() -> None:
    from llmotel.cli import _parser
    from llmotel.demo.profiles import PROFILES

    parser = _parser()
    demo = next(a for a in parser._subparsers._group_actions[0].choices.values() if a.prog.endswith("demo"))
    options = {s for action in demo._actions for s in action.option_strings if s.startswith("--")} - {"--help"}
    missing = {o for o in options if f"`{o}" not in README}
    assert not missing, f"llmotel demo options missing from the README: {sorted(missing)}"
    assert all(f"`{name}`" in README for name in PROFILES), "a profile is missing from the README"


def test_links_resolve() -> None:
    for target in re.findall(r"\]\(([^)#][^)]*)\)", README):
        if target.startswith("http"):
            continue
        assert (ROOT / target).exists(), f"README links to a missing file: {target}"
    for script in set(re.findall(r"\bscripts/[\w-]+", README)):
        path = ROOT / script
        assert path.is_file() and path.stat().st_mode & 0o111, f"{script} missing or not executable"
