/**
 * Repository of the product catalog (migration 036): one row per product under the shop's own id. Prices are
 * numeric in Postgres and numbers here; the listing is latest change first, paged by (updated_at, id).
 */
import { inStockOf, type Product, type ProductInput, type ProductPosition } from '../catalog/schema';
import type { Queryable } from './pool';

interface ProductRow {
  id: string;
  title: string;
  url: string | null;
  image_url: string | null;
  price: string;
  compare_at_price: string | null;
  currency: string;
  in_stock: boolean;
  stock: number | null;
  published: boolean;
  published_at: Date | null;
  categories: string[];
  tags: string[];
  brand: string | null;
  variants: Product['variants'];
  created_at: Date;
  updated_at: Date;
  /** updated_at as Postgres writes it, microseconds kept: the cursor of a page ending here. */
  updated_text: string;
}

const toProduct = (row: ProductRow): Product => ({
  id: row.id,
  title: row.title,
  url: row.url,
  imageUrl: row.image_url,
  price: Number(row.price),
  compareAtPrice: row.compare_at_price === null ? null : Number(row.compare_at_price),
  currency: row.currency,
  inStock: row.in_stock,
  stock: row.stock,
  published: row.published,
  publishedAt: row.published_at?.toISOString() ?? null,
  categories: row.categories,
  tags: row.tags,
  brand: row.brand,
  variants: row.variants,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

const COLUMNS = '*, updated_at::text AS updated_text';

/** Creates or replaces the whole product; `created` tells which, for a 201 or a 200. */
export async function putProduct(
  q: Queryable,
  id: string,
  p: ProductInput,
): Promise<{ product: Product; created: boolean }> {
  const { rows } = await q.query<ProductRow & { inserted: boolean }>(
    `INSERT INTO products (id, title, url, image_url, price, compare_at_price, currency, in_stock, stock,
                           published, published_at, categories, tags, brand, variants)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
     ON CONFLICT (id) DO UPDATE SET
       title = EXCLUDED.title, url = EXCLUDED.url, image_url = EXCLUDED.image_url, price = EXCLUDED.price,
       compare_at_price = EXCLUDED.compare_at_price, currency = EXCLUDED.currency, in_stock = EXCLUDED.in_stock,
       stock = EXCLUDED.stock, published = EXCLUDED.published, published_at = EXCLUDED.published_at,
       categories = EXCLUDED.categories, tags = EXCLUDED.tags, brand = EXCLUDED.brand, variants = EXCLUDED.variants,
       -- Never before the previous change: the listing's cursor relies on it (clock_timestamp, as one
       -- transaction may replace the same product twice).
       updated_at = greatest(clock_timestamp(), products.updated_at)
     RETURNING ${COLUMNS}, (xmax = 0) AS inserted`,
    [
      id,
      p.title,
      p.url ?? null,
      p.imageUrl ?? null,
      p.price,
      p.compareAtPrice ?? null,
      p.currency,
      inStockOf(p),
      p.stock ?? null,
      p.published,
      p.publishedAt ?? null,
      p.categories,
      p.tags,
      p.brand ?? null,
      JSON.stringify(p.variants),
    ],
  );
  return { product: toProduct(rows[0]), created: rows[0].inserted };
}

export async function getProduct(q: Queryable, id: string): Promise<Product | undefined> {
  const { rows } = await q.query<ProductRow>(`SELECT ${COLUMNS} FROM products WHERE id = $1`, [id]);
  return rows[0] ? toProduct(rows[0]) : undefined;
}

/** `%`, `_` and `\` of a search are letters, not LIKE patterns. */
const likeEscaped = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * A page of products, latest change first: those whose title contains `search` (any case) and that are in
 * `category`, when given. `next` is where the following page starts, or null when this one is the last.
 */
export async function listProducts(
  q: Queryable,
  opts: { search?: string; category?: string; limit: number; after?: ProductPosition },
): Promise<{ products: Product[]; next: ProductPosition | null }> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (opts.search !== undefined) {
    params.push(`%${likeEscaped(opts.search)}%`);
    where.push(`title ILIKE $${params.length}`);
  }
  if (opts.category !== undefined) {
    params.push([opts.category]);
    where.push(`categories @> $${params.length}::text[]`);
  }
  if (opts.after) {
    params.push(opts.after.at, opts.after.id);
    where.push(`(updated_at, id) < ($${params.length - 1}::timestamptz, $${params.length})`);
  }
  // One more than asked: whether another page follows, without a count.
  params.push(opts.limit + 1);
  const { rows } = await q.query<ProductRow>(
    `SELECT ${COLUMNS} FROM products ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY updated_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  const page = rows.slice(0, opts.limit);
  const last = page[page.length - 1];
  return {
    products: page.map(toProduct),
    next: rows.length > opts.limit && last ? { at: last.updated_text, id: last.id } : null,
  };
}

export async function deleteProduct(q: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await q.query('DELETE FROM products WHERE id = $1', [id]);
  return (rowCount ?? 0) > 0;
}
