-- warehouse_table(name): every row of a table of the current snapshot. `steplens_root()`
-- holds the warehouse's absolute path (made when the views are built), so the views work
-- from any directory; `current` is swapped atomically by each ingest, so a query reads
-- one consistent snapshot.
create or replace macro warehouse_table(name) as table
    select * from read_parquet(steplens_root() || '/current/' || name || '/**/*.parquet',
                               hive_partitioning = false, union_by_name = true);
