create index filings_by_ticker on filings (ticker, filed_on desc);
alter table companies add column market_cap_usd bigint;
