-- daily_metrics: metrics_over_time by UTC day (see metrics_over_time).
create or replace view daily_metrics as from metrics_over_time('day');
