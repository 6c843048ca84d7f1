-- warehouse_table(name): every row of a table of ONE snapshot. `steplens_snapshot()`
-- holds that snapshot's absolute path (spliced in when the views are defined: DuckDB's
-- table functions take no subquery), so the views work from any directory and a reader
-- never mixes snapshots: an ingest publishes a new snapshot beside this one and a new
-- `steplens.duckdb` pinned to it; this one's files stay for the retention window.
create or replace macro warehouse_table(name) as table
    select * from read_parquet(steplens_snapshot() || '/' || name || '/**/*.parquet',
                               hive_partitioning = false, union_by_name = true);
