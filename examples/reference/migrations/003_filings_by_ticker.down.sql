drop index filings_by_ticker;
alter table companies drop column market_cap_usd;
