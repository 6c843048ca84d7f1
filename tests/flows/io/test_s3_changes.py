"""S3 inputs under content-true change detection (issue 18, item 3): an object is
identified by its size and a stamp of LastModified plus a checksum of its ETag, so an
object overwritten within the same second with the same size is read again; a grown
object whose prefix hash still matches is an append; hashes are computed over S3."""

from __future__ import annotations

from steplens.flows.io import storage
from steplens.flows.store.manifest import FileEntry, Manifest, content_hashes, plan
from tests.flows.test_scale_out import s3  # noqa: F401 - the moto server fixture


def test_s3_objects_planned_by_version_and_hashed(s3):  # noqa: F811
    url = "s3://steplens-test/changes/a.jsonl"
    body = b'{"id": "s1", "object": "thread.run.step"}\n' * 20
    s3.pipe(url, body)
    names, single = storage.walk_files("s3://steplens-test/changes")
    assert names == [url] and not single
    size, stamp = storage.stat(url)
    prefix, whole = content_hashes(url, size, size)
    assert (prefix, whole) == content_hashes_local(body)
    entry = FileEntry(url, "lines", size, stamp, size, 20, prefix, content_hash=whole)
    manifest = Manifest({url: entry})
    assert plan([url], manifest)[0].action == "unchanged"
    s3.pipe(url, body.replace(b"s1", b"s2"))  # same size, at once: same second
    assert plan([url], manifest)[0].action == "replace"
    s3.pipe(url, body + b'{"id": "s3", "object": "thread.run.step"}\n')
    grown = plan([url], manifest)[0]
    assert (grown.action, grown.start) == ("append", size)


def content_hashes_local(body: bytes) -> tuple[str, str]:
    import xxhash

    text = f"xxh3_128:{len(body)}:{xxhash.xxh3_128(body).hexdigest()}"
    return text, text
