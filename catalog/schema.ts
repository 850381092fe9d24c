/**
 * A product of the shop's catalog, as the API takes it (PUT /v1/products/:id) and as the OpenAPI document
 * describes it: one schema for both. Pure: no I/O, so recommendations and workflows may import it later.
 */
import { z } from 'zod';

/** Highest price taken: far above any shop's, low enough that no float rounding hides a cent. */
export const MAX_PRICE = 1_000_000_000;
const MAX_TEXT = 500;
const MAX_LIST = 100;
const MAX_VARIANTS = 1000;

const money = z
  .number()
  .finite()
  .min(0, 'must be 0 or more')
  .max(MAX_PRICE, `must be at most ${MAX_PRICE}`)
  .meta({ description: 'in the currency of the product, e.g. 19.9' });
const stock = z.number().int().min(0, 'must be 0 or more').max(2_147_483_647);
const link = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).max(2000);
const label = z.string().trim().min(1, 'must not be empty').max(200);
const labels = z.array(label).max(MAX_LIST, `at most ${MAX_LIST}`).default([]);

export const productVariant = z.strictObject({
  id: z.string().min(1, 'must not be empty').max(255),
  sku: z.string().min(1).max(255).optional(),
  title: z.string().max(MAX_TEXT).optional(),
  price: money.optional(),
  stock: stock.nullable().optional(),
});

export const productInput = z
  .strictObject({
    title: z.string().trim().min(1, 'must not be empty').max(MAX_TEXT),
    url: link.optional(),
    imageUrl: link.optional(),
    price: money,
    compareAtPrice: money.nullable().optional(),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code in capitals, e.g. EUR')
      .meta({ description: 'ISO 4217, e.g. EUR' }),
    inStock: z.boolean().optional().meta({ description: 'default: from stock (and the variants’ stock) if given' }),
    stock: stock.nullable().optional().meta({ description: 'units in stock; null or absent when not tracked' }),
    published: z.boolean().default(true),
    publishedAt: z.iso.datetime({ offset: true }).nullable().optional(),
    categories: labels,
    tags: labels,
    brand: label.optional(),
    variants: z
      .array(productVariant)
      .max(MAX_VARIANTS, `at most ${MAX_VARIANTS}`)
      .default([])
      .superRefine((variants, ctx) => {
        const seen = new Set<string>();
        variants.forEach((v, i) => {
          if (seen.has(v.id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `"${v.id}" appears twice` });
          seen.add(v.id);
        });
      }),
  })
  .meta({ id: 'ProductInput' });
export type ProductInput = z.output<typeof productInput>;
export type ProductVariant = z.output<typeof productVariant>;

/** What is stored and answered: the input with its id, whether it is in stock, and its dates. */
export interface Product {
  id: string;
  title: string;
  url: string | null;
  imageUrl: string | null;
  price: number;
  compareAtPrice: number | null;
  currency: string;
  inStock: boolean;
  stock: number | null;
  published: boolean;
  publishedAt: string | null;
  categories: string[];
  tags: string[];
  brand: string | null;
  variants: ProductVariant[];
  createdAt: string;
  updatedAt: string;
}

/**
 * In stock unless the shop says otherwise: its own `inStock`, else the stock it counts (the product's, or any
 * variant's), else true (a shop that does not track stock sells what it lists).
 */
export function inStockOf(p: Pick<ProductInput, 'inStock' | 'stock' | 'variants'>): boolean {
  if (p.inStock !== undefined) return p.inStock;
  if (typeof p.stock === 'number') return p.stock > 0;
  const counted = p.variants.filter((v) => typeof v.stock === 'number');
  if (counted.length > 0) return counted.some((v) => (v.stock ?? 0) > 0);
  return true;
}

// --- listing ------------------------------------------------------------------------------------

/** Where a page ended: the last product's updated_at (Postgres's text, microseconds kept) and id. */
export interface ProductPosition {
  at: string;
  id: string;
}

export const encodeProductCursor = (p: ProductPosition): string =>
  Buffer.from(JSON.stringify([p.at, p.id])).toString('base64url');

// Postgres's text of a timestamptz, e.g. "2026-03-01 10:00:00.123456+00".
const POSTGRES_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}(:\d{2}){0,2}$/;
const cursor = z
  .string()
  .max(1000)
  .transform((text, ctx) => {
    try {
      const [at, id] = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as unknown[];
      if (typeof at === 'string' && POSTGRES_TIME.test(at) && typeof id === 'string' && id.length > 0)
        return { at, id } satisfies ProductPosition;
    } catch {
      // reported below
    }
    ctx.addIssue({ code: 'custom', message: 'is not a cursor this API gave (use nextCursor from the previous page)' });
    return z.NEVER;
  });

export const productQuery = z.strictObject({
  q: z.string().trim().min(1, 'must not be empty').max(200).optional().meta({ description: 'a word of the title' }),
  category: label.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: cursor.optional(),
});
export type ProductQuery = z.output<typeof productQuery>;
