"use client";
// The tab's sign-in session (read from the request by the root layout), for every client component.
import { createContext, useContext, type ReactNode } from "react";
import { canOperate, type SessionInfo } from "@/lib/auth";
import { NO_SESSION } from "@/lib/sign-in";

const SessionContext = createContext<SessionInfo>(NO_SESSION);

export function SessionProvider({ session, children }: { session: SessionInfo; children: ReactNode }) {
  return <SessionContext.Provider value={session}>{children}</SessionContext.Provider>;
}

export function useSession(): SessionInfo {
  return useContext(SessionContext);
}

/**
 * Whether this tab may submit, broadcast, cancel, retry and discard. Without sign-in everyone is an operator;
 * the server checks again on every request, this only keeps the controls honest.
 */
export function useCanOperate(): boolean {
  const session = useSession();
  return !session.authRequired || canOperate(session.principal);
}
