// Who asks for a change to a task, and through which door: what the rules and the audit log need to know.
import type { Principal } from "../../lib/auth";
import { canOperate } from "../../lib/auth";
import { AppError } from "../errors";

export interface Actor {
  principal: Principal;
  /** The client's address, as the request guard or the socket handshake saw it. */
  ip: string;
  via: "http" | "socket";
}

/** Operators only: a viewer sees everything and changes nothing. */
export function assertOperator(actor: Actor, what: string): void {
  const { principal } = actor;
  if (!canOperate(principal)) throw new AppError(403, "forbidden", `${principal.name} has the ${principal.role} role and may not ${what}; ask for the operator role.`);
}
