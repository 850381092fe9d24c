/**
 * The product catalog against the real API and Postgres: a product is created (201), replaced (200), read back,
 * found by a word of its title and by category, paged through with nextCursor, deleted; bad input is a 400 naming
 * the field, an unknown product a 404.
 */
import { Harness } from './helpers/harness';

type Json = Record<string, unknown>;

let h: Harness;
beforeAll(async () => {
  h = await Harness.start();
});
afterAll(async () => {
  await h?.stop();
});

const linen = {
  title: 'Linen shirt',
  url: 'https://shop.example/products/linen-shirt',
  imageUrl: 'https://cdn.shop.example/linen-shirt.jpg',
  price: 59.9,
  compareAtPrice: 79,
  currency: 'EUR',
  categories: ['shirts', 'summer'],
  tags: ['linen'],
  brand: 'Atelier',
  variants: [
    { id: 'v-s', sku: 'LIN-S', price: 59.9, stock: 0 },
    { id: 'v-m', sku: 'LIN-M', price: 59.9, stock: 4 },
  ],
};

const put = (id: string, body: object) => h.http('put', `/v1/products/${encodeURIComponent(id)}`).send(body);
const issuePaths = (body: Json) =>
  ((body.error as { issues?: { path: (string | number)[] }[] }).issues ?? []).map((i) => i.path.join('.'));

test('a product is created (201), replaced (200) and read back as stored', async () => {
  const created = await put('linen-shirt', linen);
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({
    id: 'linen-shirt',
    title: 'Linen shirt',
    price: 59.9,
    compareAtPrice: 79,
    currency: 'EUR',
    // No inStock given: a variant has stock.
    inStock: true,
    published: true,
    categories: ['shirts', 'summer'],
    brand: 'Atelier',
    variants: [
      { id: 'v-s', sku: 'LIN-S', stock: 0 },
      { id: 'v-m', sku: 'LIN-M', stock: 4 },
    ],
  });

  // A replacement is the whole product: what it leaves out is gone.
  const replaced = await put('linen-shirt', {
    title: 'Linen shirt, sand',
    price: 49.5,
    currency: 'EUR',
    stock: 0,
    categories: ['shirts'],
  });
  expect(replaced.status).toBe(200);
  const read = await h.http('get', '/v1/products/linen-shirt');
  expect(read.status).toBe(200);
  expect(read.body).toMatchObject({
    id: 'linen-shirt',
    title: 'Linen shirt, sand',
    price: 49.5,
    compareAtPrice: null,
    inStock: false,
    stock: 0,
    brand: null,
    variants: [],
    categories: ['shirts'],
    createdAt: created.body.createdAt,
  });
  expect(Date.parse(read.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(created.body.updatedAt));
});

test('in stock: as the shop says, else from its stock, else from the variants, else true', async () => {
  const inStock = async (id: string, body: object) =>
    (await put(id, { title: id, price: 1, currency: 'EUR', ...body })).body.inStock;
  expect(await inStock('untracked', {})).toBe(true);
  expect(await inStock('counted-out', { stock: 0 })).toBe(false);
  expect(await inStock('variants-out', { variants: [{ id: 'a', stock: 0 }, { id: 'b' }] })).toBe(false);
  expect(await inStock('said-in', { inStock: true, stock: 0 })).toBe(true);
  expect((await h.http('get', '/v1/products/variants-out')).body.inStock).toBe(false);
});

test('search by a word of the title (any case) and filter by category', async () => {
  await put('canvas-tote', { title: 'Canvas tote bag', price: 25, currency: 'EUR', categories: ['bags'] });
  await put('leather-tote', { title: 'Leather TOTE', price: 120, currency: 'EUR', categories: ['bags', 'leather'] });
  await put('wool-scarf', { title: 'Wool scarf', price: 35, currency: 'EUR', categories: ['winter'] });
  // A LIKE pattern in the search is text: "%" finds no title.
  const ids = async (query: string) => {
    const res = await h.http('get', `/v1/products?${query}`);
    expect(res.status).toBe(200);
    return (res.body.products as Json[]).map((p) => p.id).sort();
  };
  expect(await ids('q=tote')).toEqual(['canvas-tote', 'leather-tote']);
  expect(await ids('q=TOTE&category=leather')).toEqual(['leather-tote']);
  expect(await ids('category=bags')).toEqual(['canvas-tote', 'leather-tote']);
  expect(await ids('q=%25')).toEqual([]);
  expect(await ids('q=nothing-like-it')).toEqual([]);
});

test('paging across three pages with nextCursor: every product once, latest change first', async () => {
  for (let i = 1; i <= 7; i++)
    expect(
      (await put(`page-${i}`, { title: `Paged item ${i}`, price: i, currency: 'USD', categories: ['paged'] })).status,
    ).toBe(201);
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const res = await h.http(
      'get',
      `/v1/products?category=paged&limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    expect(res.status).toBe(200);
    seen.push(...(res.body.products as Json[]).map((p) => p.id as string));
    cursor = res.body.nextCursor as string | null;
    pages += 1;
  } while (cursor && pages < 10);
  expect(pages).toBe(3);
  expect(seen).toEqual(['page-7', 'page-6', 'page-5', 'page-4', 'page-3', 'page-2', 'page-1']);

  // A product changed moves to the front.
  await put('page-2', { title: 'Paged item 2, new', price: 2, currency: 'USD', categories: ['paged'] });
  const first = await h.http('get', '/v1/products?category=paged&limit=1');
  expect(first.body.products.map((p: Json) => p.id)).toEqual(['page-2']);
});

test('delete: the product is gone, a second delete is a 404', async () => {
  await put('to-delete', { title: 'Old mug', price: 9, currency: 'EUR' });
  const deleted = await h.http('delete', '/v1/products/to-delete');
  expect(deleted.status).toBe(200);
  expect(deleted.body).toEqual({ id: 'to-delete', deleted: true });
  expect((await h.http('get', '/v1/products/to-delete')).status).toBe(404);
  expect((await h.http('delete', '/v1/products/to-delete')).status).toBe(404);
  expect((await h.http('get', '/v1/products?q=mug')).body.products).toEqual([]);
});

test('bad input is a 400 naming the field, and nothing is stored', async () => {
  const cases: [object, string][] = [
    [{ ...linen, price: -1 }, 'price'],
    [{ ...linen, currency: 'euro' }, 'currency'],
    [{ ...linen, title: undefined }, 'title'],
    [{ ...linen, variants: [{ id: 'a', stock: -2 }] }, 'variants.0.stock'],
    [{ ...linen, url: 'javascript:alert(1)' }, 'url'],
    [{ ...linen, title: 'Bad \u0000 title' }, 'title'],
  ];
  for (const [body, field] of cases) {
    const res = await put('bad-product', body);
    expect({ field, status: res.status }).toEqual({ field, status: 400 });
    expect(issuePaths(res.body)).toContain(field);
  }
  expect((await h.http('get', '/v1/products/bad-product')).status).toBe(404);

  const badQueries: [string, string][] = [
    ['limit=0', 'limit'],
    ['cursor=not-a-cursor', 'cursor'],
    ['q=', 'q'],
    ['colour=red', ''],
  ];
  for (const [query, field] of badQueries) {
    const res = await h.http('get', `/v1/products?${query}`);
    expect({ query, status: res.status }).toEqual({ query, status: 400 });
    if (field) expect(issuePaths(res.body)).toContain(field);
  }
});

test('an unknown product is a 404 naming it', async () => {
  const res = await h.http('get', '/v1/products/no-such-product');
  expect(res.status).toBe(404);
  expect(res.body.message).toContain('no-such-product');
});
