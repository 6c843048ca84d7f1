"""Where input bytes come from: local files, or object storage URLs (`s3://bucket/key`).

Everything that reads inputs goes through here, so a Dask worker on another machine can
read its byte range of an export straight from S3. Local paths keep Python's own file
objects (no overhead); URLs go through fsspec (`s3fs`), with credentials and endpoint
from the usual AWS environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL` for S3-compatible stores such as MinIO).
"""

from __future__ import annotations

import errno
import os
import stat as stat_mode
import sys
import zlib
from pathlib import Path
from typing import IO

import fsspec

# What a path that is not a regular file is, for the one line that says it is skipped.
_KINDS = ((stat_mode.S_ISFIFO, "a FIFO (named pipe)"), (stat_mode.S_ISSOCK, "a socket"),
          (stat_mode.S_ISCHR, "a character device"), (stat_mode.S_ISBLK, "a block device"))
_warned: set[str] = set()


def warn(message: str) -> None:
    """One `warning:` line on stderr, once per process (discovery runs twice in an
    ingest: before Prefect starts and again in the flow)."""
    if message not in _warned:
        _warned.add(message)
        print(f"warning: {message}", file=sys.stderr, flush=True)


def not_regular(mode: int) -> str | None:
    """What a non-regular, non-directory file is (None: a regular file or directory)."""
    for test, kind in _KINDS:
        if test(mode):
            return kind
    return None


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
    """The file's bytes. A local file is opened non-blocking and must be a regular file:
    a FIFO put in the inputs' place after they were listed raises at once (an OSError,
    a read break like any other) instead of hanging in open() for a writer."""
    if is_url(name):
        fs, path = filesystem(str(name))
        return fs.open(path, "rb", block_size=8 * 1024 * 1024)
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        kind = not_regular(os.fstat(fd).st_mode)
        if kind is not None or stat_mode.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, f"not a regular file ({kind or 'a directory'})",
                          str(name))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


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
        stamp = int(modified.timestamp()) * 1_000_000_000 if hasattr(
            modified, "timestamp") else 0
        # LastModified has whole seconds: an object overwritten within the same second
        # with the same size would look unchanged. Its ETag (the content's MD5 for a
        # plain upload) changes with the content: a checksum of it fills the sub-second
        # part, so that (size, stamp) names one version of the object.
        etag = info.get("ETag") or info.get("etag")
        if etag:
            stamp += zlib.crc32(str(etag).encode()) % 1_000_000_000
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
    top = _regular(path)
    if top is not None or not path.is_dir():
        return ([top] if top is not None else []), True
    out = []
    for root, dirs, files in os.walk(path, onerror=_unlisted):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        out += [f for f in (_regular(Path(root) / f) for f in files
                            if not f.startswith(".")) if f is not None]
    return out, False


def _unlisted(e: OSError) -> None:
    warn(f"skipped {e.filename}: cannot list this directory ({e.strerror or e})")


def _regular(path: Path) -> str | None:
    """The absolute resolved name of `path` if it is (a link to) a regular file; else
    None, with one warning line for what is skipped: a FIFO, socket or device (never
    opened: open() on a FIFO waits for a writer forever), a dangling link, a link loop,
    a file that cannot be looked at. A directory is None without a word."""
    try:
        st = os.stat(path)  # follows links
    except FileNotFoundError:
        if path.is_symlink():
            warn(f"skipped {path}: dangling symbolic link (its target "
                 f"{os.readlink(path)} does not exist)")
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            warn(f"skipped {path}: symbolic link loop")
        else:
            warn(f"skipped {path}: cannot be looked at ({e.strerror or e})")
        return None
    if stat_mode.S_ISREG(st.st_mode):
        try:
            return str(path.resolve())
        except (OSError, RuntimeError) as e:  # a loop in a parent link
            warn(f"skipped {path}: cannot be resolved ({e})")
            return None
    kind = not_regular(st.st_mode)
    if kind is not None:
        warn(f"skipped {path}: {kind}, not a regular file")
    return None
