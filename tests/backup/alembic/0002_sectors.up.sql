create table sectors (id serial primary key, name text unique not null);
insert into sectors (name) select distinct sector from companies order by 1;
alter table companies add column sector_id int references sectors (id);
update companies c set sector_id = s.id from sectors s where s.name = c.sector;
alter table companies alter column sector_id set not null;
create index filings_filed_on on filings (filed_on);
