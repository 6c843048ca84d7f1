-- billing_usage: the organization Usage API (completions) exports read by the ingest, one
-- row per bucket x grouping, de-duplicated (docs/billing.md, "Reconciling estimated cost
-- with the bill"); an empty bucket is a row (`empty_bucket`): the API billed nothing that day.
create or replace view billing_usage as from warehouse_table('billing_usage');
