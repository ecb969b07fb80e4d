-- DSA Art. 15(1)(b): median time from a notice to the decision on it (its case's first decision taken after it),
-- by DSA category and source type, in hours.
with first_after as (
    select r.report_id, r.dsa_category, r.reporter_tier, r.received_at, min(d.decided_at) as decided_at
    from reports as r
    join decisions as d on d.case_id = r.case_id and d.decided_at >= r.received_at
    group by r.report_id, r.dsa_category, r.reporter_tier, r.received_at
)
select
    dsa_category,
    case when reporter_tier = 'trusted_flagger' then 'SOURCE_TRUSTED_FLAGGER' else 'SOURCE_ARTICLE_16' end
        as source_type,
    count(*) as notices_decided,
    round(approx_percentile(cast(date_diff('millisecond', received_at, decided_at) as double) / 3600000, 0.5), 2)
        as median_hours_to_decision
from first_after
group by dsa_category, case when reporter_tier = 'trusted_flagger' then 'SOURCE_TRUSTED_FLAGGER' else 'SOURCE_ARTICLE_16' end
order by dsa_category, source_type
