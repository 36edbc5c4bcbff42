"use client";
// The short note shown where an operator control is disabled for a viewer.
import { useSession } from "./session-provider";

export const VIEWER_NOTE = "Your viewer role can watch but not change anything.";

export function ViewerNote() {
  const { principal } = useSession();
  return (
    <p className="muted small viewer-note" title={principal ? `${principal.name} has the ${principal.role} role; ask for the operator role to make changes.` : undefined}>
      {VIEWER_NOTE}
    </p>
  );
}
