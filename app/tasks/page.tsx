import { TasksPage } from "@/components/tasks/tasks-page";
import { TaskStatusSchema } from "@/lib/contract";

// Live data comes over the socket and the JSON API, so the page is never prerendered.
export const dynamic = "force-dynamic";

type Search = Record<string, string | string[] | undefined>;
const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v) || undefined;

export default async function Page({ searchParams }: { searchParams: Promise<Search> }) {
  const params = await searchParams;
  const status = TaskStatusSchema.safeParse(first(params.status));
  return <TasksPage initial={{ status: status.success ? status.data : undefined, type: first(params.type), q: first(params.q) }} />;
}
