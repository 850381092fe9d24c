/**
 * Group commit for small statements many routers make at once: calls made in the same turn of
 * the event loop (a pass's lanes start together; a contact's events nothing listens to are
 * routed without I/O, so their marks come together) are answered by one statement. Routing a
 * batch marks hundreds of events routed and reads the state of tens of contacts; one round trip
 * and one commit for each would queue the requests storing the next batches behind them in the
 * pool. A call never waits for another statement to finish: groups run side by side.
 *
 * Each caller still waits for its own answer: a caller's write is done when its promise
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
  const runGroup = async (group: Call<I, O>[]) => {
    try {
      const outputs = await run(group.map((c) => c.input));
      group.forEach((c, i) => c.resolve(outputs[i]));
    } catch (err) {
      for (const c of group) c.reject(err);
    }
  };
  const flush = () => {
    const calls = queue;
    queue = [];
    for (let i = 0; i < calls.length; i += MAX_GROUP) void runGroup(calls.slice(i, i + MAX_GROUP));
  };
  return (input) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ input, resolve, reject });
      // After the calls the rest of this turn makes, not at once.
      if (queue.length === 1) setImmediate(flush);
    });
}

/** One group per database pool (or client), made on first use. */
export function groupCallsPer<K extends object, I, O>(
  run: (key: K, inputs: I[]) => Promise<O[]>,
): (key: K, input: I) => Promise<O> {
  const groups = new WeakMap<K, (input: I) => Promise<O>>();
  return (key, input) => {
    let call = groups.get(key);
    if (!call) groups.set(key, (call = groupCalls((inputs: I[]) => run(key, inputs))));
    return call(input);
  };
}
