-- field_coverage: one row per (api, object, path) seen in the input records, with how many
-- records held a non-null value there, between which of their own timestamps, and the
-- `table.column` that captures it (NULL: nothing does). docs/fidelity.md.
create or replace view field_coverage as from warehouse_table('field_coverage');
