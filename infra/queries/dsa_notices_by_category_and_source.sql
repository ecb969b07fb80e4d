-- DSA Art. 15(1)(b): notices received, by DSA category and source type (trusted flaggers, Art. 22, counted apart).
select
    dsa_category,
    case when reporter_tier = 'trusted_flagger' then 'SOURCE_TRUSTED_FLAGGER' else 'SOURCE_ARTICLE_16' end
        as source_type,
    count(*) as notices,
    sum(case when reason_code = 'ACTIONED' then 1 else 0 end) as actioned
from reports
group by dsa_category, case when reporter_tier = 'trusted_flagger' then 'SOURCE_TRUSTED_FLAGGER' else 'SOURCE_ARTICLE_16' end
order by dsa_category, source_type
