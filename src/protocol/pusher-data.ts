/**
 * Publication data between Pusher and Switchboard (pure, shared by the Pusher HTTP API and the Pusher session):
 * Pusher carries `data` as a string, Switchboard as JSON text.
 */

/** A publication's data as Pusher carries it: a JSON string as that string, any other JSON value as its text. */
export function pusherDataString(data: string): string {
  return data.charCodeAt(0) === 0x22 /* " */ ? (JSON.parse(data) as string) : data;
}

/**
 * Data from a Pusher publisher (the `pusher` server library sends a string, usually JSON text) as the JSON text a
 * native publication holds: JSON text is kept as the value it encodes (native clients get the object), any other
 * string becomes a JSON string.
 */
export function pusherDataJson(data: string): string {
  try {
    JSON.parse(data);
    return data;
  } catch {
    return JSON.stringify(data);
  }
}
