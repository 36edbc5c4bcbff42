// GETs a JSON API resource, throwing the API's own error message on failure.
export async function fetchJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { cache: "no-store" });
  const body = (await res.json().catch(() => ({}))) as T & { error?: string };
  if (!res.ok) throw new Error(body.error ?? `${path} answered ${res.status}`);
  return body;
}
