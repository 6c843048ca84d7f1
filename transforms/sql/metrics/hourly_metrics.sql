-- hourly_metrics: metrics_over_time by UTC hour (see metrics_over_time).
create or replace view hourly_metrics as from metrics_over_time('hour');
