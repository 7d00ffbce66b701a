// The gateway's REST API with the key from sessionStorage; errors carry the HTTP status and error code.

export const KEY_STORAGE = "smartstore.key";
const BASE = "/api/v1";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function currentKey() {
  return sessionStorage.getItem(KEY_STORAGE);
}

function headers() {
  return { Authorization: `Bearer ${currentKey()}` };
}

async function failure(response) {
  let code = "http_" + response.status;
  let message = response.statusText || code;
  try {
    const body = await response.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, code, message);
}

export async function get(path) {
  const response = await fetch(BASE + path, { headers: headers() });
  if (!response.ok) throw await failure(response);
  return response.json();
}

export async function post(path) {
  const response = await fetch(BASE + path, { method: "POST", headers: headers() });
  if (!response.ok) throw await failure(response);
  return response.json();
}

/** A camera snapshot as {url (object URL), takenAt (ISO)}; null when the gateway has none yet (404). */
export async function snapshot(path) {
  const response = await fetch(BASE + path, { headers: headers(), cache: "no-store" });
  if (response.status === 404) return null;
  if (!response.ok) throw await failure(response);
  const age = Number.parseFloat(response.headers.get("X-Snapshot-Age-S") || "0") || 0;
  const takenAt = new Date(Date.now() - age * 1000).toISOString();
  return { url: URL.createObjectURL(await response.blob()), takenAt };
}

export function storePath(store, rest) {
  return `/stores/${encodeURIComponent(store)}${rest}`;
}

export function eventsUrl(store) {
  const query = new URLSearchParams({ store, key: currentKey() || "" });
  return `${BASE}/events?${query}`;
}
