"""Proof that a command wrote nothing: a listing of a directory, and read-only copies."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path


def listing(root: Path) -> dict[str, tuple]:
    """Everything that says whether anything under `root` changed."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path))
        elif path.is_file():
            st = path.stat()
            out[rel] = ("file", st.st_size, st.st_mtime_ns,
                        hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest())
        else:
            out[rel] = ("dir", path.stat().st_mtime_ns)
    return out


def read_only_copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    for path in [target, *target.rglob("*")]:
        if not path.is_symlink():
            mode = path.stat().st_mode
            path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return target
