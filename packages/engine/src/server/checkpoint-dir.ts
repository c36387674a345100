import { realpath } from 'node:fs/promises';
import { isAbsolute, relative } from 'node:path';
import { RequestError } from './errors.js';

/**
 * The checkpoint path an update may read: under `root` when one is set (links resolved, so a
 * link cannot lead out of it), any path otherwise. Outside, or not there: a 403 that says only
 * that, whether or not the path exists.
 */
export async function checkpointUnder(root: string | undefined, path: string): Promise<string> {
  if (root === undefined) return path;
  const inside = await realpath(root).then(async (base) => {
    const target = await realpath(path).catch(() => null);
    if (target === null) return false;
    const rel = relative(base, target);
    return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
  });
  if (!inside)
    throw new RequestError(
      403,
      `model_path must name a checkpoint under ${root} (--checkpoint-dir)`,
    );
  return path;
}
