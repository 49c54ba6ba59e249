"""Reading an admin-edited YAML file into a validated model, with errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def load_model(
    path: Path, model: type[M], error: type[Exception], *, missing: str, expected: str
) -> M:
    """``path`` as ``model``. Every problem raises ``error`` with one line per mistake:
    ``file[:line]: key: what is wrong``. ``missing`` and ``expected`` say what to do when the
    file is absent or is not a mapping of keys."""
    if not path.is_file():
        raise error(f"{path}: not found; {missing}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise error(f"{path}{where}: not valid YAML ({exc}); check the indentation") from exc
    if not isinstance(data, dict):
        raise error(f"{path}: expected {expected}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"{path}: {key}: {err['msg'].removeprefix('Value error, ')}")
        raise error("\n".join(lines)) from exc
