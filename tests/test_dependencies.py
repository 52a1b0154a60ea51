"""The full dependency set is pinned: requirements.lock (generated from requirements.txt by pip-compile)
pins every distribution the top-level requirements pull in, at the version installed here, and the
Makefile reinstalls when it changes. Transitive packages (kombu, amqp, redis, ...) no longer float."""

import re
import subprocess
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", f"{path.name}: not an exact pin: {line}"
        found[canonical(requirement.name)] = specifiers[0].version
    return found


def closure(top: list[Requirement]) -> dict[str, set[str]]:
    """Every distribution the requirements need here (markers evaluated, extras followed)."""
    needed: dict[str, set[str]] = {}
    stack = [(canonical(r.name), set(r.extras)) for r in top]
    while stack:
        name, extras = stack.pop()
        seen = needed.get(name)
        if seen is not None and extras <= seen:
            continue
        needed[name] = (seen or set()) | extras
        for raw in metadata.requires(name) or []:
            requirement = Requirement(raw)
            if requirement.marker is not None:
                active = [""] + sorted(needed[name])
                if not any(requirement.marker.evaluate({**default_environment(), "extra": e}) for e in active):
                    continue
            stack.append((canonical(requirement.name), set(requirement.extras)))
    return needed


def test_the_lock_pins_every_transitive_dependency_at_the_installed_version():
    lock = pins(ROOT / "requirements.lock")
    top = [
        Requirement(line.split("#", 1)[0].strip())
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.split("#", 1)[0].strip()
    ]

    needed = closure(top)

    assert {"kombu", "amqp", "redis", "billiard", "vine", "asgiref", "sqlparse"} <= set(needed)
    missing = sorted(set(needed) - set(lock))
    assert not missing, f"requirements.lock does not pin: {missing} (run `make lock`)"
    for requirement in top:  # the lock was compiled from the current top-level list
        assert lock[canonical(requirement.name)] == next(iter(requirement.specifier)).version, requirement
    drift = {name: (lock[name], metadata.version(name)) for name in needed if metadata.version(name) != lock[name]}
    assert not drift, f"installed versions differ from the lock: {drift}"


def test_make_installs_from_the_lock_and_reinstalls_when_it_changes():
    dry_run = subprocess.run(  # noqa: S603 - make with fixed arguments, nothing executed (-n)
        ["make", "-n", "-W", "requirements.lock", "venv"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout

    assert "pip install --quiet -r requirements.lock" in dry_run
    assert "touch .venv/.installed" in dry_run
    assert "-r requirements.txt" not in dry_run
