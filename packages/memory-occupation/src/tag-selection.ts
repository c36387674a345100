export type TagSelection = { ok: true; tags: string[] } | { ok: false; message: string };

/**
 * Validates the tags of a release or resume up front (spec rule 2): `undefined` means
 * `fallback`; an empty list and unknown tags fail with a message that lists the valid tags.
 * The result is deduplicated and in the order of `known`.
 */
export function selectTags(
  requested: readonly string[] | undefined,
  known: readonly string[],
  fallback: readonly string[],
): TagSelection {
  const valid = `valid tags: [${known.join(', ')}]`;
  if (requested === undefined) return { ok: true, tags: known.filter((t) => fallback.includes(t)) };
  if (!Array.isArray(requested)) return { ok: false, message: `tags must be a list; ${valid}` };
  if (requested.length === 0) {
    return { ok: false, message: `tags is empty: omit it to mean every tag; ${valid}` };
  }
  const unknown = requested.filter((t) => !known.includes(t));
  if (unknown.length > 0) {
    return { ok: false, message: `unknown tags: [${unknown.join(', ')}]; ${valid}` };
  }
  return { ok: true, tags: known.filter((t) => requested.includes(t)) };
}

export function listTags(tags: Iterable<string>): string {
  return `[${[...tags].join(', ')}]`;
}
