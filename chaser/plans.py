"""The plans this deployment runs, and where each one's configuration lives.

One plan: its files are the configuration directory's own (``config/chasing.yaml``,
``cycles.yaml``, ``digest.yaml``, ``templates/``). Several: each has a folder
``config/plans/<folder>/`` with at least its ``chasing.yaml`` (which names the plan, and the
partnership whose people directory it uses); a file the folder lacks is taken from the
configuration directory itself, so plans run on one governance calendar share one
``cycles.yaml``. ``mappings/`` stay shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from workflows.chasing.config import ChasingConfigError, load_chasing
from workflows.yaml_files import ConfigProblem


@dataclass(frozen=True)
class PlanFiles:
    """Where one plan's configuration is."""

    code: str
    partnership: str
    folder: Path
    chasing: Path
    cycles: Path
    digest: Path | None
    templates: Path | None


class PlanChoiceError(ValueError):
    """No plan, or no single plan, matches what was asked; the message says which exist."""


def _file(folder: Path, config_dir: Path, name: str) -> Path:
    own = folder / name
    return own if own.exists() else config_dir / name


def plan_folders(config_dir: Path) -> list[Path]:
    """Each plan's folder: ``plans/*/`` holding a ``chasing.yaml``, else the directory itself."""
    plans = config_dir / "plans"
    found = (
        sorted(p for p in plans.iterdir() if (p / "chasing.yaml").is_file())
        if plans.is_dir()
        else []
    )
    return found or [config_dir]


def configured_plans(config_dir: Path) -> dict[str, PlanFiles]:
    """Every configured plan by code (``chasing.yaml``'s ``plan:``), in folder order."""
    found: dict[str, PlanFiles] = {}
    for folder in plan_folders(config_dir):
        chasing_path = folder / "chasing.yaml"
        chasing = load_chasing(chasing_path)
        if chasing.plan in found:
            raise ChasingConfigError(
                [
                    ConfigProblem(
                        str(chasing_path),
                        None,
                        "plan",
                        f"plan {chasing.plan!r} is also configured in "
                        f"{found[chasing.plan].chasing}; give each plan its own code",
                    )
                ]
            )
        digest = _file(folder, config_dir, "digest.yaml")
        templates = _file(folder, config_dir, "templates")
        found[chasing.plan] = PlanFiles(
            code=chasing.plan,
            partnership=chasing.partnership,
            folder=folder,
            chasing=chasing_path,
            cycles=_file(folder, config_dir, "cycles.yaml"),
            digest=digest if digest.is_file() else None,
            templates=templates if templates.is_dir() else None,
        )
    return found


def choose_plan(config_dir: Path, code: str | None) -> PlanFiles:
    """The plan ``--plan CODE`` names; without one, the only plan configured."""
    plans = configured_plans(config_dir)
    if code is not None:
        if code not in plans:
            raise PlanChoiceError(
                f"no plan {code!r} is configured in {config_dir} (plans: {', '.join(plans)})"
            )
        return plans[code]
    if len(plans) > 1:
        raise PlanChoiceError(
            f"{len(plans)} plans are configured ({', '.join(plans)}): choose one with --plan CODE"
        )
    return next(iter(plans.values()))
