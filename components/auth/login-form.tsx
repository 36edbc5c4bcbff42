"use client";
// The sign-in form: username and password to POST /api/auth/login, then on to the page that asked for it.
import { useState, type FormEvent } from "react";
import { SessionInfoSchema } from "@/lib/auth";

export function LoginForm({ next }: { next: string }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const problem = await signIn(username, password);
      if (problem === null) {
        // A full load, so the next page and its socket start with the new session cookie.
        window.location.assign(next);
        return;
      }
      setError(problem);
      setPassword("");
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="form login-form" onSubmit={submit} aria-label="Sign in">
      <label htmlFor="login-username">Username</label>
      <input id="login-username" name="username" autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required />
      <label htmlFor="login-password">Password</label>
      <input id="login-password" name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
      <button type="submit" disabled={busy}>
        Sign in
      </button>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </form>
  );
}

/** Null when signed in, else what went wrong, said for a person. */
async function signIn(username: string, password: string): Promise<string | null> {
  let res: Response;
  try {
    res = await fetch("/api/auth/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: username.trim(), password }) });
  } catch {
    return "Taskcast did not answer: check the connection (or whether the server is running) and try again.";
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string };
  if (res.ok) return SessionInfoSchema.safeParse(body).success ? null : "The server's answer was not understood; try again.";
  if (res.status === 429) {
    const wait = Number(res.headers.get("Retry-After"));
    // Up to an hour when the username itself has had too many failures (LOGIN_FAILURES_PER_USER_PER_HOUR).
    const delay = wait >= 120 ? `${Math.ceil(wait / 60)} min` : `${wait} s`;
    return `Too many sign-in attempts. Wait ${Number.isFinite(wait) && wait > 0 ? delay : "a moment"} and try again.`;
  }
  if (res.status === 401) return body.error ?? "Wrong username or password.";
  if (res.status >= 500) return `Taskcast could not sign you in right now (${body.error ?? `error ${res.status}`}). Try again shortly.`;
  return body.error ?? `Sign-in failed (error ${res.status}).`;
}
