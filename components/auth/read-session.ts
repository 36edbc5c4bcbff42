// Server components' view of the session: the SessionInfo the web node's request guard put on the request.
import { headers } from "next/headers";
import { SESSION_HEADER, SessionInfoSchema, type SessionInfo } from "@/lib/auth";
import { NO_SESSION } from "@/lib/sign-in";

/** The guard always sets the header; without it (e.g. `next start` alone) there is no sign-in. */
export async function readSession(): Promise<SessionInfo> {
  const raw = (await headers()).get(SESSION_HEADER);
  if (!raw) return NO_SESSION;
  try {
    const parsed = SessionInfoSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : NO_SESSION;
  } catch {
    return NO_SESSION;
  }
}
