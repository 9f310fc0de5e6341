/**
 * @module One crypto operation per key at a time: a promise queue per name (matrix-js-sdk
 * serialises encryption per room the same way). Without it two concurrent decrypts would both load
 * a record, both change it, and the second save would undo the first (a reused or lost key).
 */
const queues = new Map<string, Promise<unknown>>();

export function serialised<T>(name: string, task: () => Promise<T>): Promise<T> {
  const run = (queues.get(name) ?? Promise.resolve()).then(task, task);
  const tail = run.catch(() => undefined);
  queues.set(name, tail);
  void tail.then(() => {
    if (queues.get(name) === tail) queues.delete(name);
  });
  return run;
}
