/**
 * Where a source's answers come from, for the votes among sources: two
 * lines of the server list that reach the same place (the same mirror
 * listed twice, a folder URL and the file's URL on one host, a mirror that
 * redirects to another listed one, a server listed twice) are one voice.
 *
 * @module
 */

/**
 * The place a source's answers come from: a mirror's URL as its redirects
 * last led (without its fragment), or else the source's label.
 *
 * @param source The source; a mirror on the web has its `url`.
 * @returns A string equal for sources at the same place.
 */
export function placeOf(source: { label: string; url?: unknown }): string {
  const { url } = source;
  if (url instanceof URL) {
    const place = new URL(url);
    place.hash = "";
    return place.href;
  }
  return source.label;
}
