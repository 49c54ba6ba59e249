"""Reading an admin-edited YAML file into a validated model, every mistake with its line.

:func:`load_model` is how ``chasing.yaml`` and ``digest.yaml`` are read (``cycles.yaml`` has a
validator of its own, with the same :class:`ConfigProblem`): every problem in the file is
reported at once, each as ``file:line: key: what is wrong and how to fix it``, in file order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

#: "slippage.no_change.cycles: …": a message that names the key it is about, deeper than pydantic
#: could (a validator checking a whole section).
_NAMED_KEY = re.compile(r"^([A-Za-z_][\w]*(?:\.[\w]+)+): (.*)$", re.S)


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the file, and how to fix it."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigFileError(Exception):
    """A configuration file was refused; ``problems`` lists every problem, in file order."""

    def __init__(self, problems: Sequence[ConfigProblem] | str) -> None:
        if isinstance(problems, str):  # one problem already worded, e.g. about no file at all
            self.problems: list[ConfigProblem] = []
            super().__init__(problems)
            return
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.key))
        super().__init__("\n".join(str(p) for p in self.problems))


#: A check beyond the model's own (against another file, say), on the file's raw data: the
#: problems it finds, each as (key path, message).
Check = Callable[[dict[str, Any]], list[tuple[list[str | int], str]]]


def load_model(
    path: Path,
    model: type[M],
    error: type[ConfigFileError],
    *,
    missing: str,
    expected: str,
    checks: Sequence[Check] = (),
) -> M:
    """``path`` as ``model``, or ``error`` listing every problem: the model's and those of each
    of ``checks``. ``missing`` and ``expected`` say what to do when the file is absent or is not
    a mapping of keys."""
    file = str(path)
    if not path.is_file():
        raise error([ConfigProblem(file, None, "", f"not found; {missing}")])
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = ConfigProblem(file, line, "", f"not valid YAML ({exc}); check the indentation")
        raise error([problem]) from None
    if not isinstance(data, dict):
        raise error([ConfigProblem(file, 1, "", f"expected {expected}")])
    problems = [
        ConfigProblem(file, line_of(root, loc), ".".join(str(p) for p in loc), message)
        for check in checks
        for loc, message in check(data)
    ]
    try:
        loaded = model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc: list[str | int] = list(err["loc"])
            message = str(err["msg"]).removeprefix("Value error, ")
            named = _NAMED_KEY.match(message)
            if named and named.group(1).split(".")[0] == (loc[0] if loc else None):
                loc, message = list(named.group(1).split(".")), named.group(2)
            key = ".".join(str(p) for p in loc) or "(top level)"
            problems.append(ConfigProblem(file, line_of(root, loc), key, message))
    if problems:
        raise error(problems)
    return loaded


def unknown_codes(
    keys: Sequence[str], known: Collection[str], what: str = "group", where: str = "cycles.yaml"
) -> Check:
    """A check that each code listed under ``keys`` is one of ``known`` (e.g. cycles.yaml's)."""

    def check(data: dict[str, Any]) -> list[tuple[list[str | int], str]]:
        found: list[tuple[list[str | int], str]] = []
        for key in keys:
            listed = data.get(key)
            for i, code in enumerate(listed if isinstance(listed, list) else []):
                if str(code) not in known:
                    found.append(
                        ([key, i], f"no {what} {code!r} in {where} ({what}s: {', '.join(known)})")
                    )
        return found

    return check


def line_of(root: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    """The line of the deepest node of ``loc`` that the file has (1-based)."""
    node, line = root, (root.start_mark.line + 1) if root is not None else None
    for part in loc:
        found: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                    found, line = value, key.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(node.value)
        ):
            found = node.value[part]
            line = found.start_mark.line + 1
        if found is None:
            break
        node = found
    return line
