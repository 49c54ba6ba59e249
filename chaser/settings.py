"""Where Chaser finds its database and its admin-edited configuration.

Precedence for each setting: command-line option, then environment variable, then default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
#: The configuration shipped with Chaser (the Plymouth worked example). Used when ``./config``
#: does not exist, so the embedded defaults work from any directory.
SHIPPED_CONFIG_DIR = REPO_ROOT / "config"
#: Sample plan, people and governance files shipped for the demo and the tests.
SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


def default_data_dir() -> Path:
    """``$CHASER_DATA_DIR``, else ``$XDG_DATA_HOME/chaser``, else ``~/.local/share/chaser``."""
    explicit = os.environ.get("CHASER_DATA_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "chaser"


def default_database_url() -> str:
    return f"sqlite:///{default_data_dir() / 'chaser.db'}"


def default_config_dir() -> Path:
    local = Path("config")
    return local if local.is_dir() else SHIPPED_CONFIG_DIR


@dataclass(frozen=True)
class Settings:
    database_url: str
    config_dir: Path

    @classmethod
    def resolve(cls, db: str | None = None, config: str | Path | None = None) -> Settings:
        url = db or os.environ.get("CHASER_DATABASE_URL") or default_database_url()
        cfg = config or os.environ.get("CHASER_CONFIG")
        return cls(database_url=url, config_dir=Path(cfg) if cfg else default_config_dir())
