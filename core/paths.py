"""Where this user's files live: the XDG base directories, each with an outbound-panel folder."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

_BASES = {"config": ("XDG_CONFIG_HOME", ".config"), "data": ("XDG_DATA_HOME", ".local/share"),
          "state": ("XDG_STATE_HOME", ".local/state")}


def user_dir(kind: Literal["config", "data", "state"], env: Mapping[str, str] = os.environ) -> Path:
    """$XDG_<KIND>_HOME/outbound-panel, else its default under the home directory (settings, history, log)."""
    variable, fallback = _BASES[kind]
    base = env.get(variable, "")
    if not os.path.isabs(base):  # the XDG spec says to ignore a relative path
        base = str((Path(env["HOME"]) if env.get("HOME") else Path.home()) / fallback)
    return Path(base) / "outbound-panel"
