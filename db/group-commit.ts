/**
 * Group commit for small statements many routers make at once: calls made while a statement is
 * under way (or in the same turn of the event loop) are answered by the next statement,
 * together. Routing a batch marks hundreds of events routed and reads the state of tens of
 * contacts; one round trip and one commit (one WAL flush) for each would queue the requests
 * storing the next batches behind them in the pool.
 *
 * Each caller still waits for its own answer: a caller's write is durable when its promise
 * resolves, and a failed statement fails every call it carried (each decides what to do, as
 * with a statement of its own).
 */

/** Inputs of one statement at most: keeps a statement's text and plan small. */
const MAX_GROUP = 500;

interface Call<I, O> {
  input: I;
  resolve: (output: O) => void;
  reject: (err: unknown) => void;
}

/** `run` answers the inputs in their order. */
export function groupCalls<I, O>(run: (inputs: I[]) => Promise<O[]>): (input: I) => Promise<O> {
  let queue: Call<I, O>[] = [];
  let running = false;
  const drain = async () => {
    while (queue.length > 0) {
      const group = queue.slice(0, MAX_GROUP);
      queue = queue.slice(group.length);
      try {
        const outputs = await run(group.map((c) => c.input));
        group.forEach((c, i) => c.resolve(outputs[i]));
      } catch (err) {
        for (const c of group) c.reject(err);
      }
    }
    running = false;
  };
  return (input) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ input, resolve, reject });
      if (running) return;
      running = true;
      // After the calls this turn makes (concurrent lanes start together), not at once.
      setImmediate(() => void drain());
    });
}

/** One group per database pool (or client), made on first use. */
export function groupCallsPer<K extends object, I, O>(run: (key: K, inputs: I[]) => Promise<O[]>): (key: K, input: I) => Promise<O> {
  const groups = new WeakMap<K, (input: I) => Promise<O>>();
  return (key, input) => {
    let call = groups.get(key);
    if (!call) groups.set(key, (call = groupCalls((inputs: I[]) => run(key, inputs))));
    return call(input);
  };
}
