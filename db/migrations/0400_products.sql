-- Catalog (issue 4). One row per product, shared by every user: in Citus this is a reference
-- table (replicated to every node), so it has no user_id and its key is the product id.
create table products (
    product_id    text primary key,             -- stable: "bb-<sku>", "amz-<id>", or the id a shop's file gives
    source        text not null,                -- bestbuy | amazon | jsonl
    name          text not null,
    description   text not null default '',
    brand         text,
    categories    text[] not null default '{}', -- broad -> narrow
    category_path text not null default '',    -- "A > B > C": filters match a prefix or any level
    price         numeric(12, 2),               -- null = unknown (never 0 for unknown)
    rating        real,                         -- null = unknown
    review_count  integer,
    image_url     text,
    url           text,
    popularity    integer,
    content_hash  bytea not null,               -- SHA-256 of the normalised fields: re-import skips unchanged rows
    embedding     real[],                       -- MiniLM, 384 dims, unit length; null until computed
    updated_at    timestamptz not null default now(),
    search_tsv    tsvector generated always as (
        setweight(to_tsvector('english', name), 'A') ||
        setweight(to_tsvector('english', coalesce(brand, '')), 'B') ||
        setweight(to_tsvector('english', category_path), 'B') ||
        setweight(to_tsvector('english', left(description, 2000)), 'D')
    ) stored
);

create index products_name_trgm_idx on products using gin (name gin_trgm_ops);
create index products_search_tsv_idx on products using gin (search_tsv);
create index products_brand_idx on products (lower(brand));
create index products_price_idx on products (price) where price is not null;
