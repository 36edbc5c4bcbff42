// Calls the JSON API, throwing the API's own error message on failure.
import { goToSignIn } from "@/lib/sign-in";

export async function fetchJson<T>(path: string): Promise<T> {
  return request<T>(path, { cache: "no-store" });
}

/** POSTs a JSON body (an empty object when none is given). */
export async function postJson<T>(path: string, body: unknown = {}): Promise<T> {
  return request<T>(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

/** PUTs or DELETEs, with a JSON body when given. */
export async function sendJson<T>(method: "PUT" | "DELETE", path: string, body?: unknown): Promise<T> {
  return request<T>(path, body === undefined ? { method } : { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
}

async function request<T>(path: string, init: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch {
    throw new Error("The server did not answer; check the connection and try again.");
  }
  // The session ended (expired, or signed out in another tab): sign in again and come back.
  if (res.status === 401) goToSignIn();
  const body = (await res.json().catch(() => ({}))) as T & { error?: string };
  if (!res.ok) throw new Error(body.error ?? `${path} answered ${res.status}`);
  return body;
}
