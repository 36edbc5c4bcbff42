"use client";
// Who is signed in, with their role, and the button that signs out (shown only when sign-in is required).
import { useState } from "react";
import { signOut } from "@/lib/sign-in";
import { useSession } from "./session-provider";

export function Account() {
  const { authRequired, principal } = useSession();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  if (!authRequired || !principal) return null;

  const leave = async () => {
    setBusy(true);
    setError(undefined);
    try {
      // A full load follows: the next page starts without the session, and this tab's socket goes with it.
      await signOut();
    } catch (err) {
      setError(`Could not sign out: ${(err as Error).message}. Try again.`);
      setBusy(false);
    }
  };

  return (
    <div className="account">
      <span>
        Signed in as <strong>{principal.name}</strong> <span className={`role role-${principal.role}`}>{principal.role}</span>
      </span>
      <button type="button" className="small-button secondary" onClick={leave} disabled={busy}>
        Sign out
      </button>
      {error && (
        <p role="alert" className="error small">
          {error}
        </p>
      )}
    </div>
  );
}
