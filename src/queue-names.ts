/**
 * @module Queue names. Deployed environments name their queues "<base>-<env>" (wrangler.toml
 * [env.staging] / [env.production]), so consumers are chosen by the base name.
 */

const ENVIRONMENT_SUFFIX = /-(staging|production)$/;

export function queueBaseName(queue: string): string {
  return queue.replace(ENVIRONMENT_SUFFIX, "");
}
