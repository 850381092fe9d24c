/**
 * The product catalog (behind an admin key): create or replace a product under the shop's own id with
 * PUT /v1/products/:id, read it, search and page through them, delete. The schema is catalog/schema.ts.
 */
import { Router } from 'express';
import { encodeProductCursor, productInput, productQuery } from '../../catalog/schema';
import type { Db } from '../../db/pool';
import { deleteProduct, getProduct, listProducts, putProduct } from '../../db/products';
import { notFound } from '../errors';
import { parseOr400, storableParam } from '../validate';

export function productsRouter(deps: { db: Db }): Router {
  const router = Router();
  router.param('id', storableParam('id'));

  router.get('/', async (req, res) => {
    const query = parseOr400(productQuery, req.query);
    const page = await listProducts(deps.db, {
      search: query.q,
      category: query.category,
      limit: query.limit,
      after: query.cursor,
    });
    res.json({ products: page.products, nextCursor: page.next ? encodeProductCursor(page.next) : null });
  });

  router.get('/:id', async (req, res) => {
    const product = await getProduct(deps.db, req.params.id);
    if (!product) throw notFound(`product "${req.params.id}"`);
    res.json(product);
  });

  router.put('/:id', async (req, res) => {
    const input = parseOr400(productInput, req.body);
    const { product, created } = await putProduct(deps.db, req.params.id, input);
    res.status(created ? 201 : 200).json(product);
  });

  router.delete('/:id', async (req, res) => {
    if (!(await deleteProduct(deps.db, req.params.id))) throw notFound(`product "${req.params.id}"`);
    res.json({ id: req.params.id, deleted: true });
  });

  return router;
}
