"""Paths a config names are found from the config file, not the working folder.

A relative path in a config (a CSV ``data.path``) is looked up in the
config file's folder, then in each parent folder up to the *project root*:
the nearest folder above the config that holds a ``.git`` folder or a
``pyproject.toml``. User problem folders (``problems/``) are found the same
way. So ``optrun run``, ``sweep`` and ``check`` give the same results from
any working folder. ``output.dir`` is the exception: it stays relative to the
working folder, like any command's output.

For configs written before this rule, a path found only relative to the
working folder still works, with a warning saying how to write it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, ValidationInfo

ROOT_MARKERS = (".git", "pyproject.toml")


def project_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding a root marker."""
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in ROOT_MARKERS):
            return folder
    return None


def search_dirs(config_dir: Path) -> list[Path]:
    """The config's folder, then its parents up to the project root (only
    the config's folder when it is in no project)."""
    config_dir = config_dir.resolve()
    root = project_root(config_dir)
    if root is None:
        return [config_dir]
    dirs = [config_dir]
    for parent in config_dir.parents:
        if not parent.is_relative_to(root):
            break
        dirs.append(parent)
    return dirs


@dataclass
class PathContext:
    """Where a config's relative paths are looked up (pydantic validation context)."""

    dirs: list[Path]  # empty: a config shipped from another machine (absolute paths only)
    from_file: bool = True  # False: a config given as a mapping (paths relative to the working folder)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def for_config(cls, config_file: str | Path | None) -> PathContext:
        """For a config file; ``None`` (a config given as a mapping): the working folder."""
        if config_file is None:
            return cls([Path.cwd()], from_file=False)
        return cls(search_dirs(Path(config_file).parent))

    def resolve(self, raw: str, what: str = "file") -> str:
        """The absolute path of ``raw``: the first folder of ``dirs`` where it exists."""
        path = Path(os.path.expanduser(raw))
        if path.is_absolute():
            return str(path)
        for folder in self.dirs:
            if (folder / path).exists():
                return str(folder / path)
        if not self.dirs:  # a config shipped from another machine: resolved there
            raise ValueError(f"{what} {raw!r} is relative in a shipped config, whose paths are absolute")
        cwd_path = Path.cwd() / path
        if self.from_file and cwd_path.exists():  # configs from before paths were config-relative
            self.warnings.append(
                f"{what} {raw!r} was found relative to the working folder only ({cwd_path}); write it relative to the "
                f"config's folder ({self.dirs[0]}) so the config runs the same from any folder"
            )
            return str(cwd_path)
        if not self.from_file:
            raise ValueError(f"{what} {raw!r} not found in the working folder {self.dirs[0]}")
        looked = ", ".join(str(d) for d in self.dirs)
        raise ValueError(
            f"{what} {raw!r} not found (relative paths are looked up in the config's folder and its parents "
            f"up to the project root: {looked})"
        )


def _resolve_in_context(value: str, info: ValidationInfo) -> str:
    context: Any = info.context
    paths = context.get("paths") if isinstance(context, dict) else None
    if not isinstance(paths, PathContext):
        return value  # validated outside a config (e.g. in a test): as given
    return paths.resolve(value, what="data file")


# A path option: resolved against the config file's folder when a config is loaded.
ConfigPath = Annotated[str, AfterValidator(_resolve_in_context)]


def files_under(root: Path, wanted: Callable[[str], bool], hidden: bool = False) -> Iterator[Path]:
    """The files below ``root`` whose name is ``wanted``, walked with an
    explicit stack, not ``rglob`` (recursive in Python 3.11): a legal
    1200-deep tree is walked, never a RecursionError. Symbolic links to
    folders are not followed (as ``rglob``), hidden folders are skipped
    unless ``hidden``, and an unreadable folder is passed over."""
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if hidden or not entry.name.startswith("."):
                    stack.append(Path(entry.path))
            elif wanted(entry.name) and entry.is_file():
                yield Path(entry.path)
