-- The public tables: views over the Parquet files of the current snapshot.
-- `steplens_root()` is a macro holding the warehouse's absolute path, so these views
-- work from any current directory. `current` is swapped atomically by each ingest, so
-- a query always reads one consistent snapshot.

create or replace view runs as
select * from read_parquet(steplens_root() || '/current/runs/**/*.parquet',
                           hive_partitioning = false, union_by_name = true);

create or replace view steps as
select * from read_parquet(steplens_root() || '/current/steps/**/*.parquet',
                           hive_partitioning = false, union_by_name = true);

create or replace view tool_calls as
select * from read_parquet(steplens_root() || '/current/tool_calls/**/*.parquet',
                           hive_partitioning = false, union_by_name = true);

create or replace view usage as
select * from read_parquet(steplens_root() || '/current/usage/**/*.parquet',
                           hive_partitioning = false, union_by_name = true);

create or replace view rejects as
select * from read_parquet(steplens_root() || '/current/rejects/**/*.parquet',
                           hive_partitioning = false, union_by_name = true);
