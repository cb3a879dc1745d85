"""The optional settings file of a working directory: ``declsync.yaml``.

::

    prune: true               # plan and apply prune as if --prune were given (--no-prune overrides)
    maxDeleteFraction: 0.5    # the default of --max-delete-fraction (0.2 without it)

Flags win over the file. The file is never read as a manifest, even when the working
directory is given as a manifest path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from declsync.errors import ConfigError
from declsync.profile.model import suggest

__all__ = ["CONFIG_FILES", "Config", "load_config"]

CONFIG_FILES = ("declsync.yaml", "declsync.yml")
_SETTINGS = ("prune", "maxDeleteFraction")


@dataclass(frozen=True)
class Config:
    prune: bool = False
    max_delete_fraction: float | None = None


def load_config(directory: str | Path | None = None) -> Config:
    """The settings in ``declsync.yaml`` (or ``.yml``) of ``directory`` (default: the working
    directory); defaults when there is none. A malformed file is a ``ConfigError``."""
    base = Path(directory) if directory is not None else Path.cwd()
    path = next((base / name for name in CONFIG_FILES if (base / name).is_file()), None)
    if path is None:
        return Config()
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if data is None:
        return Config()
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings ({', '.join(_SETTINGS)})")
    for name in data:
        if name not in _SETTINGS:
            raise ConfigError(f"{path}: unknown setting {name!r}{suggest(str(name), _SETTINGS)}; "
                              f"known: {', '.join(_SETTINGS)}")
    prune = data.get("prune", False)
    if not isinstance(prune, bool):
        raise ConfigError(f"{path}: prune must be true or false, not {prune!r}")
    fraction = data.get("maxDeleteFraction")
    if fraction is not None and (isinstance(fraction, bool) or not isinstance(fraction, int | float)
                                 or not 0 <= fraction <= 1):
        raise ConfigError(f"{path}: maxDeleteFraction must be a number from 0 to 1 (e.g. 0.2), not {fraction!r}")
    return Config(prune=prune, max_delete_fraction=float(fraction) if fraction is not None else None)
