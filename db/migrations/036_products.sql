-- The product catalog: one row per product of the shop, under the shop's own product id, so that product events
-- (Product Viewed, Order Completed lines) and shop webhooks can be linked to it. Prices are numeric (never floats);
-- variants (their own id, SKU, price, stock) stay together in jsonb, as they are always read with their product.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE products (
  id                text PRIMARY KEY,
  title             text NOT NULL,
  url               text,
  image_url         text,
  price             numeric NOT NULL CHECK (price >= 0),
  compare_at_price  numeric CHECK (compare_at_price >= 0),
  currency          char(3) NOT NULL,
  in_stock          boolean NOT NULL DEFAULT true,
  stock             integer CHECK (stock >= 0),
  published         boolean NOT NULL DEFAULT true,
  published_at      timestamptz,
  categories        text[] NOT NULL DEFAULT '{}',
  tags              text[] NOT NULL DEFAULT '{}',
  brand             text,
  variants          jsonb NOT NULL DEFAULT '[]',
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);

-- GET /v1/products?q=: a word anywhere in the title (ILIKE '%word%'), which a trigram index serves.
CREATE INDEX products_title_trgm ON products USING gin (title gin_trgm_ops);
-- GET /v1/products?category=: categories @> ARRAY[category].
CREATE INDEX products_categories ON products USING gin (categories);
-- The listing order (latest change first) and its cursor.
CREATE INDEX products_updated ON products (updated_at DESC, id DESC);
