"""Where input bytes come from: local files, or object storage URLs (`s3://bucket/key`).

Everything that reads inputs goes through here, so a Dask worker on another machine can
read its byte range of an export straight from S3. Local paths keep Python's own file
objects (no overhead); URLs go through fsspec (`s3fs`), with credentials and endpoint
from the usual AWS environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL` for S3-compatible stores such as MinIO).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO

import fsspec


def is_url(name: str | Path) -> bool:
    return "://" in str(name)


def filesystem(url: str):
    """(fsspec filesystem, path inside it) for a URL."""
    fs, path = fsspec.core.url_to_fs(url)
    return fs, path


def _url(fs, path: str) -> str:
    protocol = fs.protocol[0] if isinstance(fs.protocol, tuple | list) else fs.protocol
    return f"{protocol}://{path}"


def open_binary(name: str | Path) -> IO[bytes]:
    if is_url(name):
        fs, path = filesystem(str(name))
        return fs.open(path, "rb", block_size=8 * 1024 * 1024)
    return open(name, "rb")


def size(name: str | Path) -> int:
    if is_url(name):
        fs, path = filesystem(str(name))
        return int(fs.size(path))
    return os.path.getsize(name)


def stat(name: str | Path) -> tuple[int, int]:
    """(size in bytes, modification time in ns): what says "this file changed"."""
    if is_url(name):
        fs, path = filesystem(str(name))
        info = fs.info(path)
        modified = info.get("LastModified") or info.get("mtime") or info.get("last_modified")
        stamp = int(modified.timestamp() * 1e9) if hasattr(modified, "timestamp") else 0
        return int(info["size"]), stamp
    st = os.stat(name)
    return st.st_size, st.st_mtime_ns


def basename(name: str | Path) -> str:
    return str(name).rstrip("/").rsplit("/", 1)[-1]


def exists(name: str | Path) -> bool:
    if is_url(name):
        fs, path = filesystem(str(name))
        return fs.exists(path)
    return Path(name).expanduser().exists()


def walk_files(name: str | Path) -> tuple[list[str], bool]:
    """(every file under `name`, whether `name` itself is a file), as names to read."""
    if is_url(name):
        fs, path = filesystem(str(name))
        if fs.isfile(path):
            return [str(name)], True
        return [_url(fs, p) for p in fs.find(path)], False
    path = Path(name).expanduser()
    if path.is_file():
        return [str(path.resolve())], True
    out = []
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        out += [str((Path(root) / f).resolve()) for f in files]
    return out, False
