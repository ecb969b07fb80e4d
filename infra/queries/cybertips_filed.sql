-- CyberTipline filings per month (UTC) by outcome, and how long a finished one took.
select
    cast(date_trunc('month', started_at) as date) as month,
    count(*) as filings,
    sum(case when stage = 'FINISHED' then 1 else 0 end) as finished,
    sum(case when stage = 'FAILED' then 1 else 0 end) as failed,
    sum(case when stage = 'IN_DOUBT' then 1 else 0 end) as in_doubt,
    sum(case when stage not in ('FINISHED', 'FAILED', 'IN_DOUBT') then 1 else 0 end) as in_progress,
    sum(files) as files,
    round(
        approx_percentile(
            case when stage = 'FINISHED' then cast(date_diff('millisecond', started_at, finished_at) as double) / 60000 end,
            0.5
        ),
        2
    ) as median_minutes_to_finish
from ncmec_filings
group by cast(date_trunc('month', started_at) as date)
order by month
