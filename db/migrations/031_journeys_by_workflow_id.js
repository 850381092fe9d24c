/**
 * The codec finds the contact of a journey's payloads by its workflow id, also after the journey
 * ended (its result, a query). Built without blocking writes to journeys: outside a transaction.
 */
exports.up = (pgm) => {
  pgm.noTransaction();
  pgm.sql('CREATE INDEX CONCURRENTLY IF NOT EXISTS journeys_by_workflow_id ON journeys (workflow_id)');
};
exports.down = false;
