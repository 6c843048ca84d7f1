-- billing_costs: the organization Costs API exports read by the ingest, one row per bucket
-- x line item x grouping, de-duplicated; `model` and `cost_kind` parsed from `line_item`.
create or replace view billing_costs as from warehouse_table('billing_costs');
