"""Record segments (flows/store/records.py) and the ranges the manifest cuts
(flows/store/manifest.py): a file read in pieces or in batches gives the rows of the
pure build over the whole file (transforms/tables.py), with the same line numbers."""

from __future__ import annotations

from polars.testing import assert_frame_equal

from steplens.flows.io.inputs import parse_chunk
from steplens.flows.store.records import Range, parse_unit
from steplens.transforms.parse import ParsedBatch
from steplens.transforms.tables import build_tables
from tests.support.paths import DATA


def test_split_file_gives_the_same_rows_and_line_numbers(tmp_path):
    lines = []
    for path in sorted((DATA / "real").glob("*/*.jsonl")):
        lines += path.read_bytes().splitlines()
    lines.insert(500, b"{broken")
    big = tmp_path / "big.jsonl"
    big.write_bytes(b"\n".join(lines) + b"\n")
    whole = build_tables(parse_chunk(Range(str(big), 0, -1, 1).chunk()))
    from steplens.flows.store.manifest import FilePlan, file_reads

    size = big.stat().st_size
    (read,) = file_reads([FilePlan(str(big), "new", "lines", size, 0)], 64 * 1024)
    assert len(read.ranges) > 5
    assert read.consumed_lines == len(lines)
    split = build_tables(ParsedBatch.concat(
        [parse_chunk(r.chunk()).shift_lines(r.first_line - 1) for r in read.ranges]))
    for name, frame in whole.frames().items():
        assert_frame_equal(split.frames()[name], frame)
    assert split.rejects["line_no"].to_list() == [501]
    assert split.accounting == whole.accounting


def test_a_large_gzip_or_sse_file_is_decoded_in_batches(tmp_path):
    """Unsplittable files are read in bounded batches: same rows, one segment per batch."""
    import gzip

    lines = []
    for path in sorted((DATA / "real").glob("*/stream.sse")):
        lines.append(path.read_bytes())
    sse = tmp_path / "all.sse.gz"
    sse.write_bytes(gzip.compress(b"".join(lines)))
    whole = build_tables(parse_chunk(Range(str(sse), 0, -1, 1, True, True).chunk()))
    result = parse_unit(str(tmp_path), "seg", [Range(str(sse), 0, -1, 1, True, True)],
                        max_bytes=20_000)
    assert len(result.infos) > 5
    from steplens.flows.store import records

    segments = {i.segment_id: i for i in result.infos}
    batched = build_tables(records.load(tmp_path, segments, None, None))
    for name in ("runs", "steps", "tool_calls", "usage"):
        assert_frame_equal(batched.frames()[name], whole.frames()[name])
    assert result.lines_read == whole.accounting["lines_read"]
    total = {k: sum(i.rows.get(k, 0) for i in result.infos) for k in ("rejects", "skipped")}
    assert total == {"rejects": 0, "skipped": whole.accounting["skipped"]}


def test_records_split_by_bucket_read_as_a_bucket_read_of_the_segments(tmp_path, monkeypatch):
    """`split_by_bucket` then `load_split` gives, bucket by bucket, exactly what `load`
    with that bucket gives (rows and their order, which the build's ties depend on), for
    bucket counts that do and do not divide the hash space, and segments read a few at a
    time; every record lands in one bucket."""
    from steplens.flows.store import records
    from steplens.transforms.tables import RUN_FRAMES, STEP_FRAMES
    from tests.support.generate import generate_export

    export = tmp_path / "export"
    generate_export(export, runs=60, seed=5)
    ranges = [Range(str(p), 0, -1, 1, p.suffix == ".gz", p.suffix == ".sse")
              for p in sorted(export.rglob("*")) if p.is_file()]
    result = parse_unit(str(tmp_path), "seg", ranges, max_bytes=40_000)
    segments = {i.segment_id: i for i in result.infos}
    assert len(segments) > 5
    monkeypatch.setattr(records, "SPLIT_SEGMENTS", 3)
    frames = RUN_FRAMES + STEP_FRAMES
    for n in (1, 7, 12):
        into = tmp_path / f"split-{n}"
        records.split_by_bucket(tmp_path, segments, frames, n, into)
        total = 0
        for b in range(n):
            split = records.load_split(into, frames, b)
            direct = records.load(tmp_path, segments, None, None, (b, n), frames)
            for name in ParsedBatch.FRAMES:
                assert_frame_equal(getattr(split, name), getattr(direct, name))
            total += sum(getattr(split, f).height for f in frames)
        assert total == records.rows_of(segments, frames) > 0


def test_bucket_of_names_the_bucket_range_holding_each_hash_value():
    """Checked for every hash value against `bucket_range`, bucket counts that do and do
    not divide the hash space: a value on a range's lower edge is where a plain
    `v * n // BUCKETS` goes wrong."""
    import polars as pl

    from steplens.flows.store.records import bucket_of, bucket_range
    from steplens.transforms import schemas

    values = pl.DataFrame({"bucket": range(schemas.BUCKETS)})
    for n in (1, 2, 3, 7, 28, 64, 100, 333):
        got = values.select(bucket_of("bucket", n))["bucket"].to_list()
        expected = [b for b in range(n) for _ in range(*bucket_range(b, n))]
        assert got == expected
