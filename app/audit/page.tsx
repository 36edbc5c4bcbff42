import type { Metadata } from "next";
import { AuditLogPage } from "@/components/audit/audit-log-page";
import { AuditActionSchema } from "@/lib/auth";

export const metadata: Metadata = { title: "Audit log · Taskcast" };

// Live data comes over the socket and the JSON API, so the page is never prerendered.
export const dynamic = "force-dynamic";

type Search = Record<string, string | string[] | undefined>;
const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v) || undefined;

export default async function Page({ searchParams }: { searchParams: Promise<Search> }) {
  const params = await searchParams;
  const action = AuditActionSchema.safeParse(first(params.action));
  return <AuditLogPage initial={{ action: action.success ? action.data : undefined, actor: first(params.actor)?.trim().slice(0, 100) }} />;
}
